"""Run a built image through its filesystem, as a container runtime would start it.

``podman run`` cannot start containers on every machine (some VMs refuse the
rlimits the OCI runtimes set), but ``podman image mount`` and ``chroot`` work
wherever the build does. `ImageRoot.start` does what the runtime would: the
image's entrypoint, environment, user and working directory, a read-only root
(as the Deployment's ``readOnlyRootFilesystem``), fresh /proc, the host's /dev,
and host directories for the volumes. All mounts are made in a private mount
namespace (``unshare --mount``), so they vanish with the process and nothing
reaches the host's mount table. The host's network is shared, so loopback
targets on the host are reachable from inside.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Runs as root in the new mount namespace: make the mounts, then become the
#: image's user in the image's root. Arguments: root, user, workdir, then pairs
#: of host directory and mount point ending with "--", then env and command.
_ENTER = r"""
set -eu
root=$1 user=$2 workdir=$3
shift 3
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
while [ "$1" != -- ]; do
    mount --bind "$1" "$root$2"
    shift 2
done
shift
exec chroot --userspec="$user" "$root" /bin/sh -c 'cd "$0" && exec "$@"' "$workdir" "$@"
"""


@dataclass(frozen=True)
class ImageConfig:
    """The part of an image's config a runtime uses to start it."""

    user: str
    entrypoint: list[str]
    cmd: list[str]
    workdir: str
    env: dict[str, str]
    exposed_ports: list[str] = field(default_factory=list)

    @classmethod
    def inspect(cls, podman: Sequence[str], tag: str) -> ImageConfig:
        """Read the config of ``tag`` with ``podman image inspect``."""
        out = subprocess.run(
            [*podman, "image", "inspect", "--format", "{{json .Config}}", tag],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        config: dict[str, Any] = json.loads(out)
        return cls(
            user=config.get("User") or "0:0",
            entrypoint=list(config.get("Entrypoint") or []),
            cmd=list(config.get("Cmd") or []),
            workdir=config.get("WorkingDir") or "/",
            env=dict(item.split("=", 1) for item in config.get("Env") or []),
            exposed_ports=sorted(config.get("ExposedPorts") or {}),
        )


@contextmanager
def mounted(podman: Sequence[str], tag: str) -> Iterator[Path]:
    """The image's filesystem (``podman image mount``), unmounted afterwards."""
    out = subprocess.run(
        [*podman, "image", "mount", tag], capture_output=True, text=True, check=True
    ).stdout
    try:
        yield Path(out.strip())
    finally:
        subprocess.run([*podman, "image", "unmount", tag], capture_output=True, check=True)


@dataclass(frozen=True)
class ImageRoot:
    """A mounted image and its config: starts processes in it."""

    path: Path
    config: ImageConfig

    def argv(
        self,
        args: Sequence[str] | None,
        volumes: Mapping[str, Path],
        env: Mapping[str, str],
        entrypoint: Sequence[str] | None = None,
    ) -> list[str]:
        """The host command that runs the image with ``args`` (None: the image's CMD),
        as ``docker run [--entrypoint ENTRYPOINT] IMAGE ARGS`` would."""
        entry = self.config.entrypoint if entrypoint is None else entrypoint
        command = [*entry, *(self.config.cmd if args is None else args)]
        binds = [str(arg) for mount_point, host in volumes.items() for arg in (host, mount_point)]
        environment = {"HOME": self.home(), **self.config.env, **env}
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", _ENTER, "enter", str(self.path), self.config.user, self.config.workdir,
            *binds, "--", "env", "-i", *(f"{k}={v}" for k, v in environment.items()), *command,
        ]  # fmt: skip

    def start(
        self,
        args: Sequence[str] | None = None,
        volumes: Mapping[str, Path] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[str]:
        """Start the image; every step execs, so the process id is the command's."""
        return subprocess.Popen(
            self.argv(args, volumes or {}, env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self,
        args: Sequence[str] | None = None,
        volumes: Mapping[str, Path] | None = None,
        env: Mapping[str, str] | None = None,
        entrypoint: Sequence[str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run the image to completion; its exit code and output."""
        return subprocess.run(
            self.argv(args, volumes or {}, env or {}, entrypoint),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def home(self) -> str:
        """The home directory /etc/passwd in the image gives the user, as runtimes set it."""
        uid = self.config.user.split(":")[0]
        for line in (self.path / "etc" / "passwd").read_text().splitlines():
            fields = line.split(":")
            if len(fields) >= 6 and uid in (fields[0], fields[2]):
                return fields[5]
        return "/"
