# openagent container image: python:3.11-slim, the package in a venv, non-root.
# Build: docker build -t openagent:0.1.0 .

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/openagent
WORKDIR /src
# Only what the package build needs (see .dockerignore).
COPY pyproject.toml README.md ./
COPY openagent ./openagent
# pip compiles the modules while installing, so nothing writes .pyc at run time.
RUN /opt/openagent/bin/pip install . \
 && /opt/openagent/bin/pip uninstall --yes pip

FROM python:3.11-slim
LABEL org.opencontainers.image.title="openagent" \
      org.opencontainers.image.description="Scrapes GPU metric exporters in Kubernetes and delivers them to the Whatap collector" \
      org.opencontainers.image.licenses="Apache-2.0"
# UID/GID 1001 as in Whatap's Go agent image. The agent writes only to its spool
# directory (owned by that user) and to stdout; the root filesystem can be read-only.
RUN groupadd --system --gid 1001 openagent \
 && useradd --system --uid 1001 --gid 1001 --home-dir /var/lib/openagent --no-create-home \
      --shell /usr/sbin/nologin openagent \
 && install -d -o 1001 -g 1001 -m 0750 /var/lib/openagent /var/lib/openagent/spool \
 && install -d -m 0755 /etc/openagent /app
COPY --from=build /opt/openagent /opt/openagent
ENV PATH=/opt/openagent/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 1001:1001
# /app as in the Go agent's image: the Whatap Operator's Deployment mounts the
# config at /app/scrape_config.yaml and starts the image with no arguments or with
# "-d"; both mean `openagent run`, which then reads ./scrape_config.yaml and sends
# to Whatap when WHATAP_LICENSE is set. deploy/ passes --config explicitly.
WORKDIR /app
# The agent's HTTP port (/metrics, /healthz, /readyz, /targets, /discovery).
EXPOSE 9401
ENTRYPOINT ["openagent"]
CMD ["run"]
