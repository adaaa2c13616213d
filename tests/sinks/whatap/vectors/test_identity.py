"""Group ``identity`` (PROTOCOL §2.4, §4.2-4.3): ONAME/OID, OKIND, ONODE and the IP.

Forms (§9): ``local_ip`` (the agent's whole decision from configured names),
``pattern`` (MakeOname with its parameters), ``POD_NAME``/``PODNAME`` (OKIND
derived from the pod name), ``ip`` (IPv4 -> i32).
"""

from __future__ import annotations

import pytest

from openagent.sinks.whatap.hashing import hash_str, ip_to_int32
from openagent.sinks.whatap.identity import decide_identity, make_oname, okind_name, oname_params
from tests.sinks.whatap.golden import Vector
from tests.sinks.whatap.vectors.harness import UnknownForm, dispatch, group_cases

pytestmark = pytest.mark.vectors

#: decide form input -> the configuration key the agent reads it from
DECIDE_KEYS = {"oname": "whatap.oname", "okind_name": "whatap.okind", "onode_name": "whatap.onode"}


def check_decide(v: Vector) -> None:
    inputs = v["inputs"]
    unknown = set(inputs) - {"local_ip", *DECIDE_KEYS}
    if unknown:
        # Any other setting would change the decision: do not ignore it.
        raise UnknownForm(v, f"local_ip with {sorted(unknown)}")
    env = {key: inputs[name] for name, key in DECIDE_KEYS.items() if inputs.get(name)}
    ident = decide_identity(env, local_ip=inputs["local_ip"])
    assert (ident.oname, ident.oid) == (v["ONAME"], v["OID"])
    assert (ident.okind_name, ident.okind) == (v["OKIND_NAME"], v["OKIND"])
    assert (ident.onode_name, ident.onode) == (v["ONODE_NAME"], v["ONODE"])
    assert ident.ip == v["IP_int32"]


def check_pattern(v: Vector) -> None:
    inputs = v["inputs"]
    params = oname_params(
        ip=inputs["ip"],
        hostname=inputs.get("hostname", ""),
        app_type=inputs.get("type", ""),
        process=inputs.get("process", ""),
        port=inputs.get("port", ""),
        docker_id=inputs.get("docker_full_id", ""),
        ips=inputs.get("ips", ""),
    )
    oname = make_oname(inputs["pattern"], params)
    assert oname == v["oname"]
    assert hash_str(oname) == v["oid"]


def check_pod_name(v: Vector) -> None:
    env = {k: v["inputs"][k] for k in ("POD_NAME", "PODNAME") if k in v["inputs"]}
    name = okind_name(env)
    assert name == v["okind_name"]
    assert (hash_str(name) if name else 0) == v["okind"]


def check_ip(v: Vector) -> None:
    ip = ip_to_int32(v["inputs"]["ip"])
    assert ip == v["int32"]
    if "hex" in v:
        assert (ip & 0xFFFFFFFF).to_bytes(4, "big").hex() == v["hex"]


FORMS = {
    "local_ip": check_decide,
    "pattern": check_pattern,
    "POD_NAME": check_pod_name,
    "PODNAME": check_pod_name,
    "ip": check_ip,
}


def form_of(v: Vector) -> str | None:
    return next((f for f in FORMS if f in v["inputs"]), None)


@pytest.mark.parametrize("vector", group_cases("identity"))
def test_identity_matches_go(vector: Vector) -> None:
    dispatch(vector, FORMS, form_of(vector))
