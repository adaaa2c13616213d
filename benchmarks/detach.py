"""Start a loopback server of ``benchmarks`` in the background and return once it serves.

``python -m benchmarks.fleet --detach`` is how the README's "Running locally"
starts its fleet: a plain ``&`` returns at once, so the next command could
reach a port nobody listens on yet, and a ``sleep`` in front of it is a race
on a loaded machine. Here the parent starts the same command without
``--detach`` in a new session (so a terminal's Ctrl-C does not reach it), waits
until it has written its ready file (it writes that file only once every
socket is listening), prints how to stop it, writes ``--pid-file`` and exits 0.
If the child exits first, its exit status and its last output are passed on.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

#: How long a detached server may take to start listening.
START_TIMEOUT = 60.0


def detach(
    module: str,
    argv: Sequence[str],
    ready_flag: str,
    pid_file: Path | None,
    summary: Callable[[str], str],
) -> int:
    """Run ``python -m module argv ready_flag FILE`` in the background once it is ready.

    ``summary`` turns the ready file's text into the line printed for the user.
    Returns the exit status for the parent: 0 once the child is ready, else 1.
    """
    with tempfile.TemporaryDirectory(prefix="openagent-detach-") as tmp:
        ready = Path(tmp) / "ready.json"
        log = Path(tmp) / "output.log"
        with log.open("wb") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", module, *argv, ready_flag, str(ready)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():
            status = child.poll()
            if status is not None or time.monotonic() > deadline:
                if status is None:
                    child.kill()
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                why = f"exit {status}" if status is not None else "not ready in time"
                print(f"{module}: did not start ({why}): {' / '.join(tail)}", file=sys.stderr)
                return 1
            time.sleep(0.05)
        print(summary(ready.read_text()))
    if pid_file is not None:
        pid_file.write_text(f"{child.pid}\n")
    print(f"{module} runs in the background as pid {child.pid}; stop it with: kill {child.pid}")
    return 0
