#!/usr/bin/env python3
"""Build the openagent container image with podman on a Debian base made by mmdebstrap.

    python3 scripts/image.py build [--tag localhost/openagent:0.1.0] [--archive FILE]
                                   [--refresh-base] [--storage-driver vfs] [--json]

``build`` needs no image registry: the base is a Debian bookworm minbase with
python3, its venv module and ca-certificates, made by mmdebstrap from the Debian
mirror, imported into podman and then used as the Dockerfile's ``BASE_IMAGE``.
The base tarball and podman's storage are cached under
``${XDG_CACHE_HOME:-~/.cache}/openagent/``, so a second build only reruns the
layers whose inputs changed. ``scripts/dev.sh image`` and ``tests/image`` both
call this script, so the image a user builds is the image the tests check.

Only the standard library is used: this runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The Debian suite of the base, and what it must hold for the Dockerfile: python3
#: with its venv module (the build makes two venvs) and the CA bundle the agent's
#: TLS verification uses. Nothing else: no compiler, as every pinned dependency
#: has a manylinux wheel.
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
#: Documentation and translations are dropped from the base (about 40 MB); the
#: packages' copyright files stay, as Debian's licences ask.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
)

#: The build machine's CA bundle, mounted over the base's during the build so that
#: pip trusts whatever the machine trusts (a TLS-inspecting proxy, a private
#: index). It is a build-time mount: it never becomes part of the image.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA_PATH = "/etc/ssl/certs/ca-certificates.crt"
#: pip settings passed into the build when set here (never empty: an empty
#: PIP_CERT would turn verification off) (proxies reach it anyway:
#: podman passes http_proxy, https_proxy and no_proxy to RUN steps by default).
PASSED_PIP_SETTINGS = ("PIP_INDEX_URL",)


def cache_dir() -> Path:
    """``${XDG_CACHE_HOME:-$HOME/.cache}/openagent``: base tarballs and podman storage."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openagent"


def project_version() -> str:
    """The version in pyproject.toml: the image's default tag."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        version: str = tomllib.load(f)["project"]["version"]
    return version


@dataclass(frozen=True)
class Podman:
    """podman with a storage of its own under the cache directory.

    The project's images stay out of the machine's storage (``podman images``
    there does not list them, a machine whose storage.conf names a driver that does
    not work in a container still builds, and builds on one machine do not
    contend for the machine-wide storage lock). ``driver`` is overlay where the
    kernel allows it; vfs works everywhere, at the cost of a full copy per layer.
    """

    root: Path
    runroot: Path
    driver: str

    def argv(self, *args: str) -> list[str]:
        """The podman command line for ``args`` on this storage.

        ``skip_mount_home``: overlay otherwise bind-mounts its directory onto itself
        and leaves that mount behind, so the cache could not simply be deleted.
        """
        opts = ["--storage-opt", "overlay.skip_mount_home=true"] if self.driver == "overlay" else []
        return [
            "podman", "--root", str(self.root), "--runroot", str(self.runroot),
            "--storage-driver", self.driver, *opts, *args,
        ]  # fmt: skip

    def run(self, *args: str, capture: bool = False) -> str:
        """Run podman; raise `BuildError` with its output when it fails."""
        proc = subprocess.run(
            self.argv(*args),
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = (proc.stderr or "").strip().splitlines()[-1:] if capture else []
            raise BuildError(f"podman {args[0]} failed (exit {proc.returncode})", *detail)
        return proc.stdout or ""

    def has_image(self, ref: str) -> bool:
        """Whether ``ref`` is in this storage."""
        return subprocess.run(self.argv("image", "exists", ref), check=False).returncode == 0


class BuildError(Exception):
    """A step failed; the message is one line for the user."""

    def __init__(self, message: str, *detail: str) -> None:
        super().__init__(": ".join([message, *detail]))


def default_podman(cache: Path, driver: str) -> Podman:
    """The project's storage: images under the cache, run state on the runtime dir."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Podman(
        root=cache / "containers" / driver,
        runroot=Path(runtime) / f"openagent-containers-{os.getuid()}-{driver}",
        driver=driver,
    )


def mmdebstrap_argv(tarball: Path) -> list[str]:
    """The mmdebstrap command that writes the base to ``tarball``."""
    argv = [
        "mmdebstrap",
        "--variant=minbase",
        "--format=tar",
        "--include=" + ",".join(BASE_PACKAGES),
    ]
    argv += [f"--dpkgopt={opt}" for opt in DPKG_OPTIONS]
    return [*argv, SUITE, str(tarball)]


def base_key() -> str:
    """A short hash of what makes the base: a change makes a new tarball and tag."""
    spec = " ".join(mmdebstrap_argv(Path("-")))
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def ensure_base_tarball(cache: Path, refresh: bool) -> tuple[Path, bool]:
    """The cached base tarball, made with mmdebstrap if missing (or ``refresh``: the
    packages are those of the day it was made); and whether it was made now."""
    tarball = cache / f"base-{SUITE}-{base_key()}.tar"
    if tarball.exists() and not refresh:
        return tarball, False
    tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".tar.partial")
    partial.unlink(missing_ok=True)
    log(f"making the {SUITE} base with mmdebstrap (once; cached in {tarball})")
    proc = subprocess.run(mmdebstrap_argv(partial), check=False)
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BuildError(f"mmdebstrap failed (exit {proc.returncode})")
    partial.rename(tarball)
    return tarball, True


def ensure_base_image(podman: Podman, tarball: Path, made_now: bool) -> str:
    """The base imported into podman under a tag naming its recipe (again when the
    tarball was made anew, so that the tag follows it)."""
    tag = f"localhost/openagent-base:{SUITE}-{base_key()}"
    if made_now or not podman.has_image(tag):
        log(f"importing the base as {tag}")
        podman.run("import", "--quiet", str(tarball), tag, capture=True)
    return tag


def build_argv(podman: Podman, base: str, tag: str) -> list[str]:
    """``podman build`` of the Dockerfile on ``base``, chroot isolation, host network.

    chroot isolation needs no container runtime (``podman run`` cannot set rlimits
    in some VMs), and the host network lets pip reach the index as the host does.
    """
    args = [
        "build", "--isolation", "chroot", "--network", "host", "--layers",
        "--build-arg", f"BASE_IMAGE={base}", "--tag", tag,
    ]  # fmt: skip
    if HOST_CA_BUNDLE.is_file():
        args += ["--volume", f"{HOST_CA_BUNDLE}:{BUILD_CA_PATH}:ro"]
        args += ["--build-arg", f"PIP_CERT={BUILD_CA_PATH}"]
    for name in PASSED_PIP_SETTINGS:
        if os.environ.get(name):
            args += ["--build-arg", f"{name}={os.environ[name]}"]
    return podman.argv(*args, str(ROOT))


def image_size(podman: Podman, tag: str) -> int:
    """The image's size in bytes, as ``podman image inspect`` reports it."""
    return int(podman.run("image", "inspect", "--format", "{{.Size}}", tag, capture=True))


@dataclass(frozen=True)
class Built:
    """What `build` did: the tag, the base, the seconds spent, the size."""

    tag: str
    image_id: str
    base: str
    base_made: bool
    base_seconds: float
    build_seconds: float
    size_bytes: int
    podman: list[str]


def build(tag: str, driver: str, archive: Path | None, refresh_base: bool = False) -> Built:
    """Make the base if needed, build the image, optionally save it."""
    for tool in ("podman", "mmdebstrap"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} not found (Debian: apt-get install {tool}; or dev.sh setup)")
    cache = cache_dir()
    podman = default_podman(cache, driver)
    started = time.monotonic()
    tarball, made_base = ensure_base_tarball(cache, refresh_base)
    base = ensure_base_image(podman, tarball, made_base)
    base_seconds = time.monotonic() - started
    argv = build_argv(podman, base, tag)
    log("building: " + shlex.join(argv))
    # podman's progress goes to stderr too: stdout holds only the result.
    if subprocess.run(argv, stdout=sys.stderr, check=False).returncode != 0:
        raise BuildError("podman build failed (its output is above)")
    build_seconds = time.monotonic() - started - base_seconds
    if archive is not None:
        log(f"saving {tag} to {archive} (docker load / podman load read it)")
        podman.run("save", "--quiet", "--format", "docker-archive", "-o", str(archive), tag)
    return Built(
        tag=tag,
        image_id=podman.run("image", "inspect", "--format", "{{.Id}}", tag, capture=True).strip(),
        base=base,
        base_made=made_base,
        base_seconds=round(base_seconds, 1),
        build_seconds=round(build_seconds, 1),
        size_bytes=image_size(podman, tag),
        podman=podman.argv(),
    )


def log(message: str) -> None:
    """Progress on stderr, so that stdout holds only the result."""
    print(f"image: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point; one line and exit 1 when a step fails, 2 for bad arguments."""
    p = argparse.ArgumentParser(prog="scripts/image.py", description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["build"])
    p.add_argument("--tag", default=f"localhost/openagent:{project_version()}")
    p.add_argument("--storage-driver", default="overlay", choices=["overlay", "vfs"])
    p.add_argument("--archive", type=Path, help="also save the image to this docker-archive")
    p.add_argument(
        "--refresh-base", action="store_true", help="make the base anew (Debian's updates)"
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = p.parse_args(argv)
    try:
        built = build(args.tag, args.storage_driver, args.archive, args.refresh_base)
    except BuildError as exc:
        print(f"image: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(built)))
        return 0
    print(f"{built.tag}: {built.size_bytes / 1e6:.0f} MB, built in {built.build_seconds} s")
    print(f"podman on the project's storage: {shlex.join(built.podman)} ...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
