"""Hand-made vectors of the groups identity, record, pack, net and convert (number
formatting only), for ``make_vectors_forms.py``; bytes from ``forms_wire`` only."""

from __future__ import annotations

from typing import Any

import forms_wire as w

Vector = dict[str, Any]
PCODE, OID, TIME = 33789, 1617387566, 1756912212000
HEAD = {"pcode": str(PCODE), "oid": OID, "time": str(TIME)}
# Another license, built by §4.1: Decimal 42 ‖ Blob "k3y!" ‖ one zero pad byte -> one long.
OTHER_KEY = b"k3y!"
OTHER_LICENSE = w.hexa32(int.from_bytes(w.dec(42) + w.blob(OTHER_KEY) + b"\x00", "big"))


def vec(group: str, name: str, inputs: Vector, data: bytes | None = None, **extra: Any) -> Vector:
    v: Vector = {"group": group, "name": name, "inputs": inputs, **extra}
    if data is not None:
        v["hex"], v["length"] = data.hex(), len(data)
    return v


def identities() -> list[Vector]:
    def decide(name: str, oname: str, onode: str, ip: str, expected_oname: str) -> Vector:
        inputs = {"local_ip": ip, "okind_name": "", "oname": oname, "onode_name": onode}
        return vec("identity", name, inputs, ONAME=expected_oname,
                   OID=w.hash_str(expected_oname), OKIND_NAME="", OKIND=0, ONODE_NAME=onode,
                   ONODE=w.hash_str(onode) if onode else 0, IP_int32=w.ip32(ip))  # fmt: skip

    def pattern(name: str, pat: str, expected: str, **given: str) -> Vector:
        inputs = {"docker_full_id": "", "hostname": "", "ip": "10.1.2.3", "ips": "",
                  "pattern": pat, "port": "", "process": "", "type": "", **given}  # fmt: skip
        return vec("identity", name, inputs, oname=expected, oid=w.hash_str(expected))

    docker, ips = w.hexa32(w.hash_str("abc123")), w.hexa32(w.hash_str("10.0.0.1,10.0.0.2"))
    none = w.hexa32(w.hash_str("none")) + "/" + w.hexa32(w.hash_str("noneIP"))
    out = [
        decide("DecideAgentOnameOid_other", "gpu-box-a", "node-7", "192.168.7.9", "gpu-box-a"),
        decide("DecideAgentOnameOid_default", "", "", "172.16.5.6", "{type}-5-6-{process}"),
        pattern(
            "MakeOname_docker_ips",
            "{hostname}-{docker}-{ips}",
            f"h2-{docker}-{ips}",
            hostname="h2",
            docker_full_id="abc123",
            ips="10.0.0.1,10.0.0.2",
        ),
        pattern("MakeOname_docker_ips_none", "{docker}/{ips}", none),
        pattern("MakeOname_empty_port_kept", "{ip0}:{port}", "10:{port}"),
    ]
    for name, pod, okind in (("web-7d9f-x1", "POD_NAME", "web-7d9f"), ("-lead", "POD_NAME", ""),
                             ("ds-xyz12", "PODNAME", "ds")):  # fmt: skip
        out.append(vec("identity", f"okind_from_{pod}_{name}", {pod: name}, okind_name=okind,
                       okind=w.hash_str(okind) if okind else 0))  # fmt: skip
    for ip in ("1.2.3.4.5", "256.1.1.1", "a.b.c.d"):
        out.append(vec("identity", f"ip_to_int32_{ip}", {"ip": ip}, w.i32(w.ip32(ip)),
                       int32=w.ip32(ip)))  # fmt: skip
    return out


REC = {"metric": "m", "labels": [["a", "1"], ["b", "2"]], "timestamp": "0",
       "value": "-0", "value_bits": "8000000000000000"}  # fmt: skip
HIST = {"metric": "h", "labels": [["le", "x"]], "timestamp": "1000", "schema": 3,
        "zero_threshold": 0.001, "zero_threshold_bits": "3f50624dd2f1a9fc", "zero_count": "2",
        "count": "10", "sum": 10.0, "sum_bits": "4024000000000000",
        "positive_spans": [[0, 2], [1, 1]], "positive_buckets": ["1", "2", "-1"],
        "negative_spans": [[-2, 1]], "negative_buckets": ["4"]}  # fmt: skip
# Small enough that the records blob stays raw (<= 100 bytes).
HIST_SMALL = {**HIST, "labels": [], "positive_spans": [[0, 1]], "positive_buckets": ["3"],
              "negative_spans": [], "negative_buckets": []}  # fmt: skip
HELP = {"metric": "jobs_total", "property": [["help", "H"], ["type", "counter"]]}


def records() -> list[Vector]:
    return [
        vec("record", "OpenMx_record_two_labels_negzero", {"record": REC}, w.openmx(REC)),
        vec("record", "OpenMxHistogram_record_both_signs", {"record": HIST}, w.histogram(HIST)),
        vec("record", "OpenMxHelp_record_help_and_type", HELP, w.help_rec(HELP)),
    ]


def pack(name: str, code: int, head: Vector, body: bytes, **inputs: Any) -> Vector:
    data = w.i16(code) + w.header(head) + body
    return vec("pack", name, {**head, **inputs}, data)


def records_pack(name: str, code: int, head: Vector, recs: list[bytes], **inputs: Any) -> Vector:
    body, inner = w.records_body(recs)
    trailer = w.text(inputs["endpoint"]) if inputs.get("endpoint") else b""
    v = pack(name, code, head, body + trailer, **inputs)
    v["zip"], v["inner_hex"] = 0, inner.hex()
    return v


def param_body(pid: int, request: int, response: int, entries: list[list[str]]) -> bytes:
    body = w.i32(pid) + w.dec(request) + w.dec(response) + w.dec(len(entries))
    return body + b"".join(w.text(k) + w.text_value(x) for k, x in entries)


def param(name: str, pid: int, request: int, response: int, entries: list[list[str]]) -> Vector:
    return pack(name, 0x0100, HEAD, param_body(pid, request, response, entries), id=pid,
                request=str(request), response=str(response), entries=entries or None)  # fmt: skip


def tag_count_packs() -> list[Vector]:
    tags = [["otype", "22"], ["subType", "1"], ["hostIp", "169151308"],
            ["startTime", "1756912200000"], ["cpuCores", "2"]]  # fmt: skip
    tag_bytes = w.map_value([(k, b"\x14" + w.dec(int(x))) for k, x in tags])
    h = w.hash64(tag_bytes)
    info = b"\x00" + w.text("common_agent_info") + w.dec(h) + tag_bytes + w.map_value([])
    data = w.map_value([("x", b"\x14" + w.dec(1))])
    plain = b"\x00" + w.text("integrations_counter") + w.dec(0) + w.map_value([]) + data
    v9 = {**HEAD, "okind": -1108554816, "onode": 967915637}
    return [
        {**pack("TagCountPack_agent_info_other_ip", 0x1601, v9, info,
                category="common_agent_info", tags_decimal_in_order=tags),
         "tag_hash": str(h), "tags_value_hex": tag_bytes.hex()},
        pack("TagCountPack_no_tags_with_data", 0x1601, HEAD, plain,
             category="integrations_counter", data_in_order=[["x", 1]]),
    ]  # fmt: skip


def packs() -> list[Vector]:
    legacy = {"pcode": "7", "oid": -1, "time": "1"}
    onode_only = {**HEAD, "okind": 0, "onode": 5}
    endpoint = "http://10.0.0.1:9400/metrics"
    attrs = [["k", "v"], ["_uuid_", "u-1"], ["_esca_", "true"], ["_status_", "1"],
             ["_otype_", "22"]]  # fmt: skip
    event = bytes([20]) + w.text("T") + w.text("M") + bytes([len(attrs)])
    event += b"".join(w.text(k) + w.text(x) for k, x in attrs)
    texts = [{"div": 63, "hash": 967915637, "text": "ip-10-21-150-16.ec2.internal"},
             {"div": 13, "hash": w.hash_str("gpu-box-a"), "text": "gpu-box-a"}]  # fmt: skip
    text_body = w.dec(2) + b"".join(
        bytes([t["div"]]) + w.i32(t["hash"]) + w.text(t["text"]) for t in texts
    )
    return [
        records_pack("OpenMxPack_legacy_endpoint", 0x1603, legacy, [w.openmx(REC)],
                     records=[REC], endpoint=endpoint),
        records_pack("OpenMxHelpPack_onode_only", 0x1604, onode_only, [w.help_rec(HELP)],
                     records=[HELP]),
        records_pack("OpenMxHistogramPack_one_record", 0x1607, legacy, [w.histogram(HIST_SMALL)],
                     records=[HIST_SMALL]),
        pack("OpenMxEndpointPack_one", 0x1606, HEAD, w.i16(1) + w.text(endpoint),
             endpoints=[endpoint]),
        pack("OpenMxEndpointPack_none", 0x1606, HEAD, w.i16(0), endpoints=None),
        pack("TextPack_ONODE_NAME_and_ONAME", 0x0700, HEAD, text_body, records=texts),
        param("ParamPack_CONFIGURE_GET_request", 4, 5, 0, []),
        param("ParamPack_CONFIGURE_GET_response", 4, 0, 5,
              [["cypher_level", "128"], ["whatap.server.host", "10.0.0.1"]]),
        param("ParamPack_SET_CONFIG_request", 14, 77, 0, [["cypher_level", "0"]]),
        param("ParamPack_SET_CONFIG_response", 14, 0, 77, [["cypher_level", "0"]]),
        param("ParamPack_GET_ENV_response", 12, 0, 987654321,
              [["PATH", "/usr/bin"], ["HOME", "/root"]]),
        *tag_count_packs(),
        pack("EventPack_WARNING_uuid", 0x1400, HEAD, event, level=20, title="T", message="M",
             attr_in_order=attrs),
    ]  # fmt: skip
