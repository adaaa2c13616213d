"""Agent identity: ONAME/OID, OKIND and ONODE as the Go agent derives them (PROTOCOL §4.2-4.3).

Everything takes the environment as a mapping argument (the whatap.conf keys
and environment variables merged by the caller); nothing here reads
``os.environ``. Values are trimmed; the first non-empty candidate wins.

`stable_default_oname` is this project's own default for a pod, used instead
of the Go default (which is derived from the pod IP and so changes with every
restart).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from openagent.sinks.whatap.hashing import hash_str, ip_to_int32, to_string32

#: The Go agent's pattern when neither an explicit name nor a pattern is configured.
DEFAULT_ONAME_PATTERN = "{type}-{ip2}-{ip3}-{process}"

ONAME_KEYS = ("whatap.oname", "WHATAP_ONAME", "app_name")
PATTERN_KEYS = ("whatap.name", "WHATAP_NAME", "object_name")
OKIND_KEYS = ("whatap.okind", "WHATAP_OKIND", "OKIND")
POD_NAME_KEYS = ("POD_NAME", "PODNAME")
ONODE_KEYS = ("whatap.onode", "WHATAP_ONODE", "NODE_NAME", "NODE_IP")


def first_set(env: Mapping[str, str], keys: tuple[str, ...]) -> str:
    """The first non-empty trimmed value among ``keys``, or ``""``."""
    for key in keys:
        v = env.get(key, "").strip()
        if v:
            return v
    return ""


def pattern_keys(pattern: str) -> list[str]:
    """The ``{key}`` names of a pattern in order (trimmed; an unclosed ``{`` ends the scan)."""
    keys: list[str] = []
    pos = 0
    while True:
        start = pattern.find("{", pos)
        if start < 0:
            return keys
        end = pattern.find("}", start + 1)
        if end < 0:
            return keys
        keys.append(pattern[start + 1 : end].strip())
        pos = end + 1


def make_oname(pattern: str, params: Mapping[str, str]) -> str:
    """Substitute ``{key}`` by its parameter when that is non-empty; keep it literally otherwise.

    Like golib, each key found in the pattern is replaced everywhere in the
    running result, in pattern order.
    """
    oname = pattern
    for key in pattern_keys(pattern):
        value = params.get(key, "")
        if value:
            oname = oname.replace("{" + key + "}", value)
    return oname


def oname_params(
    *,
    ip: str,
    hostname: str = "",
    app_type: str = "",
    process: str = "",
    port: str = "",
    docker_id: str = "",
    ips: str = "",
) -> dict[str, str]:
    """The pattern parameters: ``ip0``.., ``port``, ``hostname``, ``type``, ``process``,
    ``docker`` and ``ips`` (hexa32 hashes, with the Go fallbacks ``none``/``noneIP``)."""
    params = {f"ip{i}": part for i, part in enumerate(ip.split("."))}
    params["port"] = port
    params["hostname"] = hostname
    params["type"] = app_type
    params["process"] = process
    params["docker"] = to_string32(hash_str(docker_id.strip() if docker_id else "none"))
    params["ips"] = to_string32(hash_str(ips.strip() if ips else "noneIP"))
    return params


def decide_oname(env: Mapping[str, str], params: Mapping[str, str]) -> str:
    """The explicit name if configured, else the configured (or default) pattern applied."""
    explicit = first_set(env, ONAME_KEYS)
    if explicit:
        return explicit
    return make_oname(first_set(env, PATTERN_KEYS) or DEFAULT_ONAME_PATTERN, params)


def okind_name(env: Mapping[str, str]) -> str:
    """Configured OKIND name, else POD_NAME (or PODNAME) cut at its last ``-`` (Go rule)."""
    name = first_set(env, OKIND_KEYS)
    if name:
        return name
    pod = first_set(env, POD_NAME_KEYS)
    cut = pod.rfind("-")
    return pod[:cut] if cut > 0 else ""


def onode_name(env: Mapping[str, str]) -> str:
    """First of whatap.onode, WHATAP_ONODE, NODE_NAME, NODE_IP."""
    return first_set(env, ONODE_KEYS)


def name_hash(name: str) -> int:
    """HashStr of a name, 0 for no name."""
    return hash_str(name) if name else 0


@dataclass(frozen=True, slots=True)
class Identity:
    """The names and hashes that identify the agent to the collector."""

    oname: str
    oid: int
    okind_name: str
    okind: int
    onode_name: str
    onode: int
    ip: int


def decide_identity(
    env: Mapping[str, str], *, local_ip: str, params: Mapping[str, str] | None = None
) -> Identity:
    """Identity as the Go agent decides it after connecting from ``local_ip``.

    ``params`` defaults to `oname_params` with only the IP set (the open agent
    has no app type or process name).
    """
    if params is None:
        params = oname_params(ip=local_ip)
    oname = decide_oname(env, params)
    kind = okind_name(env)
    node = onode_name(env)
    return Identity(
        oname=oname,
        oid=hash_str(oname),
        okind_name=kind,
        okind=name_hash(kind),
        onode_name=node,
        onode=name_hash(node),
        ip=ip_to_int32(local_ip),
    )


# Kubernetes' generated-name alphabet (no vowels, no 0/1/3) for random pod suffixes.
_POD_SUFFIX_RE = re.compile(r"[bcdfghjklmnpqrstvwxz2456789]{5}")
# A pod-template-hash is a decimal uint32 with each digit mapped into that alphabet,
# which only ever yields these ten characters.
_TEMPLATE_HASH_RE = re.compile(r"[4-9bcdf]{6,10}")


def stable_default_oname(
    env: Mapping[str, str], *, shard: int | None = None, per_pod: bool = False
) -> str | None:
    """Our default ONAME for a pod: the same across restarts and rollouts of its workload.

    The Go default embeds the pod IP, which changes whenever the pod is
    recreated. The Go OKIND keeps the ReplicaSet hash, which changes with
    every rollout (including ``kubectl rollout restart``). What survives both
    is the workload name, so, from POD_NAME (or PODNAME):

    * ``<deployment>-<pod-template-hash>-<xxxxx>`` -> ``<deployment>``;
    * ``<daemonset>-<xxxxx>`` (or a bare ReplicaSet/Job) -> ``<name>-<NODE_NAME>``
      when NODE_NAME is set (a DaemonSet pod is tied to its node), else ``<name>``;
    * a pod name without a random suffix (StatefulSet ordinal, static or bare
      pod) is already stable -> used as is.

    Replicas of one Deployment would share ``<deployment>``, so a sharded
    Deployment passes its ``shard`` number, appended as ``-<shard>``. With
    ``per_pod`` (live shard membership, where each pod is a member under its
    own name) the pod name is the ONAME as is: replicas that scrape different
    targets must be different objects, and a StatefulSet's pod names are
    stable (a Deployment's pods get a new ONAME with each new pod). Returns
    None when no pod name is known (then the Go pattern applies). Detection is
    by name shape, so a workload whose own name ends in something that looks
    like a pod-template-hash (6-10 of ``4-9bcdf``) loses that segment.
    """
    pod = first_set(env, POD_NAME_KEYS)
    if not pod:
        return None
    if per_pod:
        return pod
    base, _, suffix = pod.rpartition("-")
    if not base or not _POD_SUFFIX_RE.fullmatch(suffix):
        name = pod
    else:
        owner, _, template_hash = base.rpartition("-")
        if owner and _TEMPLATE_HASH_RE.fullmatch(template_hash):
            name = owner
        else:
            node = first_set(env, ("NODE_NAME",))
            name = f"{base}-{node}" if node else base
    return name if shard is None else f"{name}-{shard}"
