#!/usr/bin/env python3
"""Regenerate constraints.txt: the runtime dependencies the image installs, pinned.

    python3 scripts/constraints.py          # with CPython 3.11, the image's Python

pip resolves ``openagent`` (pyproject.toml) in a fresh venv against the package
index, wheels only, and the pins are written sorted. Then the same pins are
resolved for x86_64 and aarch64 manylinux up to glibc 2.36 (Debian bookworm), so
an image built on either machine needs no compiler. The machine's own pip
configuration (local wheel folders, extra indexes, constraints) is ignored: the
pins must be what anyone gets from the index. Proxies, ``PIP_CERT`` and
``PIP_INDEX_URL`` are honoured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "constraints.txt"
#: The image's Python and glibc (Debian bookworm): the pins must have wheels for them.
PYTHON = (3, 11)
ARCHS = ("x86_64", "aarch64")
GLIBC_MINOR = 36


def manylinux_tags(arch: str) -> list[str]:
    """Every manylinux tag a glibc 2.36 ``arch`` machine installs (pip does not expand them)."""
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, 4, -1)]
    return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]


#: pip settings from the environment that reach the index the way the user means.
KEPT_PIP_SETTINGS = ("PIP_CERT", "PIP_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT")
HEADER = """\
# The runtime dependencies of openagent, pinned: the image installs exactly these
# (Dockerfile: pip install --constraint constraints.txt --only-binary=:all:).
# Each has a manylinux wheel for CPython 3.11 on x86_64 and aarch64.
# Regenerate after changing dependencies in pyproject.toml (with CPython 3.11):
#   python3 scripts/constraints.py
"""


def pip_env() -> dict[str, str]:
    """The environment without the machine's pip configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update({k: os.environ[k] for k in KEPT_PIP_SETTINGS if k in os.environ})
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def dry_run(pip: Path, report: Path, *args: str) -> list[dict[str, object]]:
    """``pip install --dry-run`` wheels only; the ``install`` list of its report."""
    argv = [str(pip), "install", "--dry-run", "--ignore-installed", "--only-binary=:all:"]
    argv += ["--quiet", "--report", str(report), *args]
    proc = subprocess.run(argv, env=pip_env(), check=False)
    if proc.returncode != 0:
        sys.exit(f"constraints: pip could not resolve {' '.join(args)} (exit {proc.returncode})")
    items: list[dict[str, object]] = json.loads(report.read_text())["install"]
    return items


def pins(items: list[dict[str, object]]) -> list[str]:
    """``name==version`` of every distribution but openagent, names normalised, sorted."""
    found = {}
    for item in items:
        meta = item["metadata"]
        assert isinstance(meta, dict)
        name = str(meta["name"]).lower().replace("_", "-").replace(".", "-")
        if name != "openagent":
            found[name] = f"{name}=={meta['version']}"
    return [found[name] for name in sorted(found)]


def main() -> int:
    """Resolve, check the other platforms, write constraints.txt."""
    if sys.version_info[:2] != PYTHON:
        sys.exit(f"constraints: run with CPython {PYTHON[0]}.{PYTHON[1]}, the image's Python")
    with tempfile.TemporaryDirectory(prefix="openagent-constraints-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = venv / "bin" / "pip"
        pinned = pins(dry_run(pip, Path(tmp) / "report.json", str(ROOT)))
        pinned_file = Path(tmp) / "pinned.txt"
        pinned_file.write_text("\n".join(pinned) + "\n")
        for arch in ARCHS:
            platforms = [a for tag in manylinux_tags(arch) for a in ("--platform", tag)]
            dry_run(
                pip, Path(tmp) / f"{arch}.json", "--no-deps", "--target", str(Path(tmp) / "t"),
                *platforms, "--python-version", f"{PYTHON[0]}.{PYTHON[1]}",
                "--implementation", "cp", "-r", str(pinned_file),
            )  # fmt: skip
    TARGET.write_text(HEADER + "\n".join(pinned) + "\n")
    print(f"constraints: wrote {len(pinned)} pins to {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
