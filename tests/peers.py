"""Real Prometheus and VictoriaMetrics servers on 127.0.0.1, for tests that compare behaviour.

Each server runs from the installed binary with its own temporary data
directory and a free loopback port, and stops on ``stop()`` or at the end of
a ``with`` block::

    with PrometheusServer(scrape_configs=[...]) as prom:
        prom.wait_for('up{job="x"} == 1')
        rows = prom.query('{job="x"}')

or as a pytest fixture::

    prom = peer_fixture(lambda: PrometheusServer(scrape_configs=[...]), scope="module")

``halt()`` stops the process but keeps its port and data directory, and a
later ``start()`` brings the same server back (outage tests).

Queries are synchronous (urllib); the ``a``-prefixed variants use aiohttp
for tests that run inside an event loop which also serves the scraped
targets. Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp
import pytest
import yaml

PROMETHEUS_BINARY = "/usr/bin/prometheus"
VICTORIA_METRICS_BINARY = "/usr/bin/victoria-metrics"

#: One query result row: labels (``__name__`` included when the result has it) and value.
Row = tuple[dict[str, str], float]
#: One series with its raw samples: labels and (timestamp ms, value) pairs.
SeriesSamples = tuple[dict[str, str], list[tuple[int, float]]]
#: One exported series: labels, values, timestamps (ms).
ExportedSeries = tuple[dict[str, str], list[float], list[int]]

_BARE_SPECIALS = re.compile(r"(?<=[\[,])([+-]?Inf|NaN)(?=[,\]])")


class PeerError(RuntimeError):
    """A peer binary is missing, did not start, or answered with an error."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _parse_vector(payload: dict[str, Any]) -> list[Row]:
    if payload.get("status") != "success":
        raise PeerError(f"query failed: {payload.get('errorType')}: {payload.get('error')}")
    data = payload["data"]
    if data["resultType"] != "vector":
        raise PeerError(f"expected an instant vector, got {data['resultType']}")
    return [(dict(r["metric"]), float(r["value"][1])) for r in data["result"]]


class _Server:
    """Process lifecycle shared by both peers."""

    name = "peer"
    binary = ""
    ready_path = "/"

    def __init__(self, *, binary: str | None = None, start_timeout: float = 15.0) -> None:
        self.binary = binary or self.binary
        self.start_timeout = start_timeout
        self.port = 0
        self.workdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The file that receives the server's stdout and stderr."""
        assert self.workdir is not None, f"{self.name} is not started"
        return self.workdir / "server.log"

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config files into ``self.workdir`` before the process starts."""

    def start(self) -> None:
        """Start the server and wait until it reports ready."""
        if self._proc is not None:
            raise PeerError(f"{self.name} already started")
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            raise PeerError(
                f"{self.name} binary not found at {self.binary}; install the Debian package "
                f"(apt-get install --no-install-recommends {Path(self.binary).name})"
            )
        if self.workdir is None:  # else restarting after halt(): same port, same data
            self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
            self.port = free_port()
        self._prepare()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in halt()
        self._proc = subprocess.Popen(
            self._command(), stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                log = self.log_tail()
                self.stop()
                raise PeerError(f"{self.name} exited with {self._proc.returncode}:\n{log}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        log = self.log_tail()
        self.stop()
        raise PeerError(f"{self.name} not ready after {self.start_timeout}s:\n{log}")

    def halt(self, *, kill: bool = False) -> None:
        """Stop the process (SIGTERM, then SIGKILL; or SIGKILL at once with ``kill``) but
        keep its port and data: a later ``start()`` brings the same server back."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``halt()``/``stop()`` while the process lives."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and delete its data."""
        self.halt()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the server logged (for error messages)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- HTTP -----------------------------------------------------------------

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET ``path`` and decode the JSON answer."""
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise PeerError(f"GET {path} -> {e.code}: {e.read()[:500]!r}") from None

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> int:
        """POST ``body`` to ``path``; return the status (errors raise PeerError)."""
        req = urllib.request.Request(self.url + path, data=body, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status: int = r.status
                return status
        except urllib.error.HTTPError as e:
            raise PeerError(f"POST {path} -> {e.code}: {e.read()[:500]!r}") from None

    def query(self, promql: str, at: float | None = None) -> list[Row]:
        """Evaluate an instant query; return (labels, value) rows."""
        params = {"query": promql}
        if at is not None:
            params["time"] = repr(at)
        return _parse_vector(self.get_json("/api/v1/query", params))

    def samples(self, selector: str, window: str = "10m") -> list[SeriesSamples]:
        """Raw samples of ``selector`` over the last ``window``: (labels, [(ts_ms, value)])."""
        payload = self.get_json("/api/v1/query", {"query": f"{selector}[{window}]"})
        if payload.get("status") != "success" or payload["data"]["resultType"] != "matrix":
            raise PeerError(f"range selector {selector!r} failed: {payload}")
        return [
            (dict(r["metric"]), [(round(float(t) * 1000), float(v)) for t, v in r["values"]])
            for r in payload["data"]["result"]
        ]

    async def aquery(self, promql: str, at: float | None = None) -> list[Row]:
        """:meth:`query` for code running inside an event loop."""
        params = {"query": promql}
        if at is not None:
            params["time"] = repr(at)
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + "/api/v1/query", params=params) as r,
        ):
            return _parse_vector(await r.json(content_type=None))

    def wait_for(
        self,
        promql: str,
        done: Callable[[list[Row]], bool] = bool,
        timeout: float = 15.0,
    ) -> list[Row]:
        """Poll ``promql`` until ``done(rows)``; raise PeerError with the last rows on timeout."""
        deadline = time.monotonic() + timeout
        rows: list[Row] = []
        while True:
            rows = self.query(promql)
            if done(rows):
                return rows
            if time.monotonic() > deadline:
                raise PeerError(f"{promql!r} not satisfied after {timeout}s; last: {rows[:5]}")
            time.sleep(0.2)


class PrometheusServer(_Server):
    """``/usr/bin/prometheus`` with a generated config, remote-write receiver enabled."""

    name = "prometheus"
    binary = PROMETHEUS_BINARY
    ready_path = "/-/ready"

    def __init__(
        self,
        scrape_configs: Sequence[dict[str, Any]] = (),
        *,
        scrape_interval: str = "1s",
        extra_args: Sequence[str] = (),
        binary: str | None = None,
        start_timeout: float = 15.0,
        out_of_order_window: str | None = None,
    ) -> None:
        super().__init__(binary=binary, start_timeout=start_timeout)
        self.scrape_configs = list(scrape_configs)
        self.scrape_interval = scrape_interval
        self.extra_args = list(extra_args)
        self.out_of_order_window = out_of_order_window

    def config(self) -> dict[str, Any]:
        """The configuration file's content.

        ``out_of_order_window`` (e.g. ``"1h"``) lets the TSDB take samples
        older than a series' newest one; without it such a sample fails the
        whole remote-write request with 400.
        """
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "scrape_configs": self.scrape_configs,
        }
        if self.out_of_order_window:
            config["storage"] = {"tsdb": {"out_of_order_time_window": self.out_of_order_window}}
        return config

    def _prepare(self) -> None:
        assert self.workdir is not None
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(self.config()))

    def _command(self) -> list[str]:
        assert self.workdir is not None
        return [
            self.binary,
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-remote-write-receiver",
            "--web.enable-lifecycle",
            *self.extra_args,
        ]

    def reload(self, scrape_configs: Sequence[dict[str, Any]]) -> None:
        """Replace the scrape configs and make Prometheus load them."""
        self.scrape_configs = list(scrape_configs)
        self._prepare()
        self.post("/-/reload", b"")

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets as ``/api/v1/targets`` reports them."""
        payload = self.get_json("/api/v1/targets", {"state": "active"})
        targets: list[dict[str, Any]] = payload["data"]["activeTargets"]
        return targets

    def metadata(self, metric: str | None = None) -> dict[str, list[dict[str, str]]]:
        """``/api/v1/metadata``: family -> list of {type, help, unit}."""
        payload = self.get_json("/api/v1/metadata", {"metric": metric} if metric else None)
        result: dict[str, list[dict[str, str]]] = payload["data"]
        return result


class VictoriaMetricsServer(_Server):
    """``/usr/bin/victoria-metrics`` (single node), optionally scraping a promscrape config."""

    name = "victoria-metrics"
    binary = VICTORIA_METRICS_BINARY
    ready_path = "/health"

    def __init__(
        self,
        scrape_configs: Sequence[dict[str, Any]] = (),
        *,
        scrape_interval: str = "1s",
        extra_args: Sequence[str] = (),
        binary: str | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        super().__init__(binary=binary, start_timeout=start_timeout)
        self.scrape_configs = list(scrape_configs)
        self.scrape_interval = scrape_interval
        self.extra_args = list(extra_args)

    def _prepare(self) -> None:
        assert self.workdir is not None
        if self.scrape_configs:
            config = {
                "global": {"scrape_interval": self.scrape_interval},
                "scrape_configs": self.scrape_configs,
            }
            (self.workdir / "promscrape.yml").write_text(yaml.safe_dump(config))

    def _command(self) -> list[str]:
        assert self.workdir is not None
        cmd = [
            self.binary,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=WARN",
        ]
        if self.scrape_configs:
            cmd.append(f"-promscrape.config={self.workdir / 'promscrape.yml'}")
        return cmd + self.extra_args

    def import_prometheus(self, text: bytes, extra_labels: dict[str, str] | None = None) -> None:
        """Ingest a text-format body through ``/api/v1/import/prometheus`` and flush it."""
        path = "/api/v1/import/prometheus"
        if extra_labels:
            query = [("extra_label", f"{k}={v}") for k, v in extra_labels.items()]
            path += "?" + urllib.parse.urlencode(query)
        self.post(path, text)
        self.flush()

    def flush(self) -> None:
        """Make recently ingested samples searchable at once."""
        with urllib.request.urlopen(self.url + "/internal/force_flush", timeout=10):
            pass

    def export(self, match: str) -> list[ExportedSeries]:
        """``/api/v1/export``: raw samples as (labels, values, timestamps in ms) per series.

        VictoriaMetrics does not store NaN samples and writes infinities as bare
        ``+Inf``/``-Inf`` (not JSON); both are handled here. It does store
        staleness markers and exports them as ``null``: they come back as NaN.
        """
        url = self.url + "/api/v1/export?" + urllib.parse.urlencode({"match[]": match})
        out = []
        with urllib.request.urlopen(url, timeout=10) as r:
            for raw in r.read().decode().splitlines():
                if raw.strip():
                    item = json.loads(_BARE_SPECIALS.sub(r'"\1"', raw))
                    values = [math.nan if v is None else float(v) for v in item["values"]]
                    out.append((dict(item["metric"]), values, list(item["timestamps"])))
        return out

    def wait_export(
        self, match: str, count: int = 1, timeout: float = 10.0
    ) -> list[ExportedSeries]:
        """Poll :meth:`export` until it returns at least ``count`` series."""
        deadline = time.monotonic() + timeout
        while True:
            series = self.export(match)
            if len(series) >= count:
                return series
            if time.monotonic() > deadline:
                raise PeerError(f"export {match!r}: {len(series)} series after {timeout}s")
            time.sleep(0.1)


def peer_fixture(
    make: Callable[[], _Server], scope: Literal["function", "module", "session"] = "module"
) -> Any:
    """A pytest fixture that starts the server ``make()`` returns and stops it afterwards."""

    @pytest.fixture(scope=scope)
    def server() -> Iterator[_Server]:
        with make() as started:
            yield started

    return server
