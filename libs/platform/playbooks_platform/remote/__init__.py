"""``playbooks`` against a running platform: runs, events, playbooks, exceptions and search over HTTP.

``config`` finds each service and the token, ``client`` calls a service and turns its refusals into
one line, ``sse`` follows a run's event stream, ``commands`` are the typer groups ``cli`` registers.
"""
