# syntax=docker/dockerfile:1
# The web console's image: its static files (web/console) and the small server of playbooks_platform.console,
# which serves them and a /config.js telling the browser where each service's API is:
#   docker build -f deploy/docker/console.Dockerfile -t playbooks/console .
# The service URLs are set when deploying, not when building: PLAYBOOKS_CONSOLE_SERVICE_URLS, a JSON object
# such as {"runbook-runtime": "https://runs.example.com"} (merged over http://127.0.0.1:<port> defaults).
# Only libs/contracts and libs/platform are installed, with the versions and hashes of uv.lock.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv && python -m venv /opt/uv && /opt/uv/bin/pip install uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY libs/contracts libs/contracts
COPY libs/platform libs/platform
# uv reads the whole workspace to read the lock; no service is installed.
COPY services services
RUN /opt/uv/bin/uv export --frozen --no-dev --no-emit-workspace --package playbooks-platform -o /tmp/requirements.txt \
 && pip install --no-deps --require-hashes -r /tmp/requirements.txt
# Local folders, not index packages (DL3013 asks for pins): their dependencies came from the lock above.
# hadolint ignore=DL3013
RUN pip install --no-deps ./libs/contracts ./libs/platform \
 && python -c "import playbooks_platform.console"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="playbooks console" \
      org.opencontainers.image.description="The web console of the governed playbook platform"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PLAYBOOKS_SERVICE_NAME=console \
    PLAYBOOKS_CONSOLE_STATIC_DIR=/srv/console
RUN groupadd --system --gid 10001 playbooks \
 && useradd --system --uid 10001 --gid playbooks --home-dir /var/lib/playbooks --create-home playbooks
COPY --from=build /opt/venv /opt/venv
COPY --chmod=0644 deploy/docker/healthcheck.py /usr/local/lib/playbooks-healthcheck.py
COPY web/console /srv/console
USER 10001:10001
WORKDIR /var/lib/playbooks
# Port 8000 is the console's port in SERVICE_PORTS (playbooks_platform.settings).
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "/usr/local/lib/playbooks-healthcheck.py"]
ENTRYPOINT ["python", "-m", "playbooks_platform.console", "--host", "0.0.0.0", "--port", "8000"]
