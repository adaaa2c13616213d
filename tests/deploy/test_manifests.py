"""The Dockerfile the manifests in deploy/ run: a non-root user and the Go agent's start-up."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_runs_openagent_as_uid_1001() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines()]
    assert lines.count("FROM python:3.11-slim") == 1
    assert "FROM python:3.11-slim AS build" in lines
    users = [line for line in lines if line.startswith("USER ")]
    assert users == ["USER 1001:1001"]
    assert "777" not in text
    assert 'ENTRYPOINT ["openagent"]' in lines
    # The operator's Deployment starts the image with no args or "-d" and mounts the
    # config in /app, as for the Go agent: both must reach `run` with ./scrape_config.yaml.
    assert 'CMD ["run"]' in lines
    assert "WORKDIR /app" in lines
    assert "HEALTHCHECK" not in text
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".git", ".venv", "tests"} <= set(ignored)
    assert not {"openagent", "pyproject.toml", "README.md"} & set(ignored)
