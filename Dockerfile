# openagent container image: the package in a venv on a base with python3, non-root.
#
# BASE_IMAGE is anything with CPython 3.11, its venv module and a CA bundle:
#   docker build -t openagent:0.1.0 .                        (python:3.11-slim)
#   docker build --build-arg BASE_IMAGE=debian-bookworm-with-python3 -t openagent:0.1.0 .
# scripts/dev.sh image builds it here without a registry (deploy/IMAGE.md).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# Set by scripts/image.py when the build machine needs them (its CA bundle,
# mounted for the build only; its index). Unset, pip uses its defaults.
ARG PIP_CERT
ARG PIP_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ONLY_BINARY=:all:
# Two venvs: pip lives in the first and installs into the second, which holds
# only openagent and its pinned dependencies (no pip, no setuptools).
RUN python3 -m venv /opt/pip \
 && python3 -m venv --without-pip /opt/openagent
WORKDIR /src
# The pinned dependencies first, in a layer of their own: it is rebuilt only
# when constraints.txt changes. Wheels only, so the base needs no compiler.
COPY constraints.txt ./
RUN /opt/pip/bin/pip --python /opt/openagent/bin/python install --requirement constraints.txt
# Only what the package build needs (see .dockerignore). pip compiles the
# modules while installing, so nothing writes .pyc at run time.
COPY pyproject.toml README.md ./
COPY openagent ./openagent
RUN /opt/pip/bin/pip --python /opt/openagent/bin/python install --constraint constraints.txt . \
 && /opt/pip/bin/pip --python /opt/openagent/bin/python check

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="openagent" \
      org.opencontainers.image.description="Scrapes GPU metric exporters in Kubernetes and delivers them to the Whatap collector" \
      org.opencontainers.image.licenses="Apache-2.0"
# UID/GID 1001 as in Whatap's Go agent image (the operator's pod security context
# runs it so). The entries are appended rather than made with useradd, which not
# every base has. The agent writes only to its spool directory (owned by that
# user; used when OPENAGENT_SPOOL_DIR names it), to /tmp and to stdout: the root
# filesystem can be read-only.
RUN echo 'openagent:x:1001:' >>/etc/group \
 && echo 'openagent:x:1001:1001:openagent:/var/lib/openagent:/usr/sbin/nologin' >>/etc/passwd \
 && install -d -o 1001 -g 1001 -m 0750 /var/lib/openagent /var/lib/openagent/spool \
 && install -d -m 0755 /etc/openagent /app
COPY --from=build /opt/openagent /opt/openagent
ENV PATH=/opt/openagent/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 1001:1001
# /app as in the Go agent's image: the Whatap Operator's Deployment mounts the
# config at /app/scrape_config.yaml and starts the image with no arguments or
# with "-d". Both mean `openagent run` the Go agent's way: in a cluster the config
# comes from the operator's ConfigMap, else from ./scrape_config.yaml; with
# WHATAP_LICENSE set it sends to Whatap. Hence no CMD: any CMD would be arguments.
# deploy/ passes `run --config ...` explicitly.
WORKDIR /app
# The agent's HTTP port (/metrics, /healthz, /readyz, /targets, /discovery).
EXPOSE 9401
ENTRYPOINT ["openagent"]
