"""ONAME/OID, OKIND and ONODE derivation, and our stable default ONAME."""

from __future__ import annotations

import pytest

from openagent.sinks.whatap.hashing import hash_str
from openagent.sinks.whatap.identity import (
    decide_identity,
    decide_oname,
    make_oname,
    okind_name,
    oname_params,
    onode_name,
    pattern_keys,
    stable_default_oname,
)


def test_default_pattern_keeps_empty_keys_literally() -> None:
    ident = decide_identity({}, local_ip="10.21.11.76")
    assert ident.oname == "{type}-11-76-{process}"
    assert ident.oid == -2106835885  # PROTOCOL §4.2
    assert ident.okind == ident.onode == 0
    assert ident.ip == 0x0A150B4C


def test_explicit_name_wins_in_go_order_and_is_trimmed() -> None:
    params = oname_params(ip="1.2.3.4")
    env = {"app_name": "c", "WHATAP_ONAME": " b ", "WHATAP_NAME": "p-{ip3}"}
    assert decide_oname(env, params) == "b"
    assert decide_oname({**env, "whatap.oname": "a"}, params) == "a"
    assert decide_oname({"WHATAP_NAME": "p-{ip3}", "object_name": "q"}, params) == "p-4"
    assert decide_oname({"object_name": "q-{hostname}"}, params) == "q-{hostname}"


def test_pattern_parameters() -> None:
    params = oname_params(ip="10.0.0.9", hostname="h", docker_id="", ips="10.0.0.9")
    assert make_oname("{ip0}.{ip1}-{hostname}-{port}", params) == "10.0-h-{port}"
    assert params["docker"] == "x1vp006f"  # hexa32(HashStr("none") = 2140143823)
    assert make_oname("{docker}", params) == "x1vp006f"
    assert make_oname("{ips}", params) != make_oname("{ips}", oname_params(ip="10.0.0.9"))


def test_pattern_keys_are_trimmed_and_an_unclosed_brace_ends_the_scan() -> None:
    assert pattern_keys("a{ x }b{y}{z") == ["x", "y"]
    # golib then replaces "{x}", which "{ x }" is not: the text stays.
    assert make_oname("a{ x }b{y}", {"x": "1", "y": "2"}) == "a{ x }b2"
    # Replacement runs on the whole result, in key order (a value can contain a later key).
    assert make_oname("{a}{b}", {"a": "{b}", "b": "B"}) == "BB"


def test_okind_precedence_and_pod_name_cut() -> None:
    pod = {"POD_NAME": "whatap-open-agent-5d8f7c9b6-abcde"}
    assert okind_name(pod) == "whatap-open-agent-5d8f7c9b6"
    assert okind_name({"PODNAME": "x-y"}) == "x"
    assert okind_name({"POD_NAME": "-lead"}) == ""
    assert okind_name({**pod, "OKIND": "k3"}) == "k3"
    assert okind_name({**pod, "OKIND": "k3", "WHATAP_OKIND": "k2"}) == "k2"
    assert okind_name({"whatap.okind": " k1 ", "WHATAP_OKIND": "k2"}) == "k1"


def test_onode_precedence() -> None:
    env = {"NODE_IP": "10.0.0.1"}
    assert onode_name(env) == "10.0.0.1"
    env["NODE_NAME"] = "node-a"
    assert onode_name(env) == "node-a"
    env["WHATAP_ONODE"] = "n2"
    assert onode_name(env) == "n2"
    env["whatap.onode"] = "n1"
    assert onode_name(env) == "n1"
    ident = decide_identity(env, local_ip="1.2.3.4")
    assert (ident.onode_name, ident.onode) == ("n1", hash_str("n1"))


@pytest.mark.parametrize(
    ("env", "shard", "expected"),
    [
        ({"POD_NAME": "gpu-agent-5d8f7c9b6-x7k2p"}, None, "gpu-agent"),
        ({"POD_NAME": "gpu-agent-7bc44f9d8-q2wzr", "NODE_NAME": "n1"}, None, "gpu-agent"),
        ({"POD_NAME": "gpu-agent-5d8f7c9b6-x7k2p"}, 2, "gpu-agent-2"),
        ({"POD_NAME": "dcgm-agent-x7k2p", "NODE_NAME": "node-a"}, None, "dcgm-agent-node-a"),
        ({"POD_NAME": "dcgm-agent-x7k2p"}, None, "dcgm-agent"),
        ({"POD_NAME": "openagent-0", "NODE_NAME": "node-a"}, None, "openagent-0"),
        ({"POD_NAME": "openagent-12"}, 1, "openagent-12-1"),
        ({"POD_NAME": "standalone"}, None, "standalone"),
        ({"PODNAME": "agent-6f9c8d7b5b-aaaaa"}, None, "agent-6f9c8d7b5b-aaaaa"),
        ({}, None, None),
    ],
)
def test_stable_default_oname(env: dict[str, str], shard: int | None, expected: str) -> None:
    assert stable_default_oname(env, shard=shard) == expected


def test_each_member_pod_is_its_own_object_under_live_membership() -> None:
    names = [
        stable_default_oname({"POD_NAME": pod, "NODE_NAME": "n1"}, per_pod=True)
        for pod in ("openagent-0", "openagent-1", "openagent-5d8f7c9b6-x7k2p")
    ]
    assert names == ["openagent-0", "openagent-1", "openagent-5d8f7c9b6-x7k2p"]
    assert stable_default_oname({}, per_pod=True) is None


def test_stable_default_oname_survives_restart_and_rollout() -> None:
    before = {"POD_NAME": "openagent-5d8f7c9b6-x7k2p", "NODE_NAME": "n1"}
    restarted = {"POD_NAME": "openagent-5d8f7c9b6-zq9vw", "NODE_NAME": "n2"}
    rolled_out = {"POD_NAME": "openagent-6c7d9f4b8-b2kxl", "NODE_NAME": "n3"}
    names = {stable_default_oname(e) for e in (before, restarted, rolled_out)}
    assert names == {"openagent"}
    # The Go OKIND does change with the rollout.
    assert okind_name(before) != okind_name(rolled_out)


# Outside Kubernetes there is no pod name, so the Go default pattern applies: it keeps
# only the last two octets of the local IP, and hosts 10.1.11.76 and 10.9.11.76 share them.
HOST_A_IP, HOST_B_IP = "10.1.11.76", "10.9.11.76"


def test_hosts_sharing_the_last_two_ip_octets_share_the_default_name() -> None:
    a = decide_identity({}, local_ip=HOST_A_IP)
    b = decide_identity({}, local_ip=HOST_B_IP)
    assert a.oname == b.oname == "{type}-11-76-{process}"
    assert a.oid == b.oid


@pytest.mark.parametrize(
    ("env_a", "env_b"),
    [
        ({"WHATAP_ONAME": "gpu-host-a"}, {"WHATAP_ONAME": "gpu-host-b"}),
        ({"whatap.oname": "rack1-gpu"}, {"whatap.oname": "rack2-gpu"}),
        ({"whatap.name": "{ip0}-{ip1}-{ip2}-{ip3}"}, {"whatap.name": "{ip0}-{ip1}-{ip2}-{ip3}"}),
    ],
    ids=["WHATAP_ONAME", "whatap.oname", "pattern_with_all_octets"],
)
def test_hosts_sharing_the_last_two_ip_octets_get_different_oids_when_names_differ(
    env_a: dict[str, str], env_b: dict[str, str]
) -> None:
    a = decide_identity(env_a, local_ip=HOST_A_IP)
    b = decide_identity(env_b, local_ip=HOST_B_IP)
    assert a.oname != b.oname
    assert (a.oid, b.oid) == (hash_str(a.oname), hash_str(b.oname))
    assert a.oid != b.oid
