"""What a developer's machine and the tests run beside the services: the embedded PostgreSQL and broker,
``playbooks dev`` and the test support. Service images leave this package out."""
