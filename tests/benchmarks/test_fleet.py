"""The synthetic dcgm-exporter fleet: bodies, refreshes, addresses, faults, stats."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from asyncio.subprocess import PIPE

import aiohttp
import pytest

from benchmarks.dcgm_payload import FAMILIES
from benchmarks.fleet import CONTENT_TYPE, Fault, Fleet, node_address
from tests.benchmarks.conftest import DCGM_LABELS, POD_LABELS, fetch, parse_body


def free_port(host: str) -> int:
    """A port that is free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def test_body_is_dcgm_exporter_text(session: aiohttp.ClientSession) -> None:
    async with Fleet(2, gpus=8, families=40, update_interval=3600) as fleet:
        expected = {name: typ for name, typ, _, _ in FAMILIES[:40]}
        for i, url in enumerate(fleet.urls):
            status, headers, body = await fetch(session, url, {"Accept-Encoding": "gzip"})
            assert status == 200
            assert headers["Content-Type"] == CONTENT_TYPE
            assert "Content-Encoding" not in headers
            families = parse_body(body)
            assert {f.name: f.type for f in families} == expected
            samples = 0
            for fam in families:
                assert len(fam.samples) == 8
                assert fam.help
                for labels, _ in fam.samples:
                    assert tuple(k for k, _ in labels) == DCGM_LABELS
                    assert dict(labels)["Hostname"] == f"gpu-node-{i}"
                assert [dict(lb)["gpu"] for lb, _ in fam.samples] == [str(g) for g in range(8)]
                samples += len(fam.samples)
            assert samples == 320 == fleet.nodes[i].stats.last_samples
            assert body == fleet.last_body(i)


async def test_nodes_differ_in_identity(session: aiohttp.ClientSession) -> None:
    async with Fleet(2, gpus=2, families=1) as fleet:
        uuids = []
        for url in fleet.urls:
            _, _, body = await fetch(session, url)
            uuids.append({dict(lb)["UUID"] for lb, _ in parse_body(body)[0].samples})
        assert len(uuids[0]) == 2
        assert not uuids[0] & uuids[1]


async def test_pods_per_gpu_add_pod_labels(session: aiohttp.ClientSession) -> None:
    async with Fleet(1, gpus=2, families=3, pods_per_gpu=2) as fleet:
        _, _, body = await fetch(session, fleet.urls[0])
        families = parse_body(body)
        assert [len(f.samples) for f in families] == [4, 4, 4]
        for fam in families:
            for labels, _ in fam.samples:
                assert tuple(k for k, _ in labels) == DCGM_LABELS + POD_LABELS


async def test_promtool_parses_the_body(session: aiohttp.ClientSession) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/dev.sh installs it)")
    async with Fleet(1, pods_per_gpu=1) as fleet:
        _, _, body = await fetch(session, fleet.urls[0])
    proc = await asyncio.create_subprocess_exec(
        promtool, "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(body), timeout=60)
    # Exit 3 means lint findings only (camelCase labels, counters without _total), as for
    # real dcgm-exporter output; 1 would be a parse error.
    assert proc.returncode in (0, 3), err.decode()
    assert b"parsing error" not in err


async def test_same_bytes_between_refreshes(session: aiohttp.ClientSession) -> None:
    async with Fleet(1, update_interval=3600) as fleet:
        bodies = [(await fetch(session, fleet.urls[0]))[2] for _ in range(3)]
        assert bodies[0] == bodies[1] == bodies[2]
        assert fleet.nodes[0].stats.refreshes == 1
        assert fleet.scrapes(0) == 3


def _series(body: bytes) -> tuple[list[str], dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    families = parse_body(body)
    values = {(f.name, lb): v for f in families for lb, v in f.samples}
    return [f.name for f in families], values


async def test_refresh_changes_values_and_order(session: aiohttp.ClientSession) -> None:
    async with Fleet(1, update_interval=0.2) as fleet:
        order1, values1 = _series((await fetch(session, fleet.urls[0]))[2])
        await asyncio.sleep(0.25)
        order2, values2 = _series((await fetch(session, fleet.urls[0]))[2])
        assert fleet.nodes[0].stats.refreshes == 2
    assert sorted(order1) == sorted(order2)
    assert order1 != order2
    assert values1.keys() == values2.keys()
    assert values1 != values2
    counters = {name for name, typ, _, _ in FAMILIES if typ == "counter"}
    for key, value in values1.items():
        if key[0] in counters:
            assert values2[key] >= value, key


async def test_zero_interval_renders_every_scrape(session: aiohttp.ClientSession) -> None:
    async with Fleet(1, update_interval=0) as fleet:
        b1 = (await fetch(session, fleet.urls[0]))[2]
        b2 = (await fetch(session, fleet.urls[0]))[2]
        assert b1 != b2
        assert fleet.nodes[0].stats.refreshes == 2


def test_node_address() -> None:
    assert node_address(0) == "127.0.1.1"
    assert node_address(249) == "127.0.1.250"
    assert node_address(250) == "127.0.2.1"
    with pytest.raises(ValueError, match="node index -1"):
        node_address(-1)


async def test_ip_per_node_share_one_port(session: aiohttp.ClientSession) -> None:
    port = free_port("127.0.1.1")
    async with Fleet(3, ip_per_node=True, node_port=port, families=1) as fleet:
        for i, url in enumerate(fleet.urls):
            assert url == f"http://{node_address(i)}:{port}/metrics"
            status, _, body = await fetch(session, url)
            assert status == 200
            assert dict(parse_body(body)[0].samples[0][0])["Hostname"] == f"gpu-node-{i}"
        with pytest.raises(aiohttp.ClientConnectionError):
            await fetch(session, f"http://{node_address(3)}:{port}/metrics")


async def test_status_fault_and_health(session: aiohttp.ClientSession) -> None:
    async with Fleet(2, families=1) as fleet:
        fleet.set_fault(1, status=500)
        assert (await fetch(session, fleet.urls[0]))[0] == 200
        status, _, body = await fetch(session, fleet.urls[1])
        assert status == 500
        assert b"injected fault on node 1" in body
        health = fleet.urls[1].replace("/metrics", "/health")
        assert (await fetch(session, health))[:3:2] == (503, b"KO")
        fleet.set_fault(1)
        assert (await fetch(session, fleet.urls[1]))[0] == 200
        assert (await fetch(session, health))[:3:2] == (200, b"OK")
        stats = fleet.nodes[1].stats
        assert (stats.requests, stats.errors, stats.scrapes) == (2, 1, 1)


async def test_drop_fault_closes_the_connection(session: aiohttp.ClientSession) -> None:
    async with Fleet(1, families=1) as fleet:
        fleet.set_fault(0, drop=True)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await fetch(session, fleet.urls[0])
        # aiohttp's client may retry an idempotent GET once on a dropped connection.
        stats = fleet.nodes[0].stats
        assert stats.dropped == stats.requests >= 1
        assert fleet.scrapes(0) == 0


async def test_delay_fault_outlasts_a_short_client_timeout() -> None:
    async with Fleet(1, families=1) as fleet:
        fleet.set_fault(0, delay=30)
        timeout = aiohttp.ClientTimeout(total=0.2)
        async with aiohttp.ClientSession(timeout=timeout) as short:
            with pytest.raises(asyncio.TimeoutError):
                await fetch(short, fleet.urls[0])
        fleet.set_fault(0, delay=0.05)
        async with aiohttp.ClientSession() as patient:
            assert (await fetch(patient, fleet.urls[0]))[0] == 200
        assert fleet.scrapes(0) == 1


async def test_fault_control_endpoint(session: aiohttp.ClientSession) -> None:
    async with Fleet(1, families=1) as fleet:
        ctl = fleet.urls[0].replace("/metrics", "/-/fault")
        async with session.post(ctl, json={"status": 502, "delay": 0.01}) as resp:
            assert resp.status == 200
            assert await resp.json() == {"delay": 0.01, "status": 502, "drop": False}
        assert (await fetch(session, fleet.urls[0]))[0] == 502
        async with session.get(ctl) as resp:
            assert (await resp.json())["status"] == 502
        for bad, message in (
            (b"{nope", "not JSON"),
            (b'{"bogus": 1}', "unknown fault keys"),
            (b'{"delay": -1}', "fault.delay"),
            (b'{"status": "500"}', "fault.status"),
            (b"[1]", "JSON object"),
        ):
            async with session.post(ctl, data=bad) as resp:
                assert resp.status == 400
                assert message in (await resp.json())["error"]
        assert fleet.nodes[0].fault.status == 502
        async with session.post(ctl, json={}) as resp:
            assert resp.status == 200
        assert (await fetch(session, fleet.urls[0]))[0] == 200


def test_fault_from_json() -> None:
    assert Fault.from_json({"drop": True}) == Fault(drop=True)
    assert Fault.from_json({"delay": 2, "status": None}) == Fault(delay=2.0)
    with pytest.raises(ValueError, match=r"fault\.drop"):
        Fault.from_json({"drop": 1})


async def test_stats_count_scrapes_exactly(session: aiohttp.ClientSession) -> None:
    async with Fleet(2, update_interval=0) as fleet:
        sizes = [len((await fetch(session, fleet.urls[0]))[2]) for _ in range(3)]
        await fetch(session, fleet.urls[1])
        status, _, raw = await fetch(session, fleet.urls[0].replace("/metrics", "/-/stats"))
        assert status == 200
        stats = json.loads(raw)
        assert stats["node"] == 0
        assert stats["hostname"] == "gpu-node-0"
        assert stats["scrapes"] == stats["requests"] == 3
        assert stats["bytes"] == sum(sizes)
        assert stats["last_samples"] == 320
        assert fleet.scrapes(0) == 3
        assert fleet.scrapes(1) == 1
        assert fleet.total_scrapes() == 4


def test_constructor_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        Fleet(1, host="192.0.2.1")
    with pytest.raises(ValueError, match="fault for node 5"):
        Fleet(2, faults={5: Fault(drop=True)})
    with pytest.raises(ValueError, match="families must be in"):
        Fleet(1, families=0)


async def test_busy_port_is_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        fleet = Fleet(1, base_port=port)
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            await fleet.start()
        assert all(n._runner is None for n in fleet.nodes)
