"""Which pods are members: Ready and not terminating; this agent's own pod always."""

from __future__ import annotations

from openagent.kube.prune import prune
from openagent.shard import is_member, ownership_of
from tests.kubefake import objects

NS = "whatap-monitoring"


def agent_pod(name: str, *, ready: bool = True, deleting: bool = False) -> dict[str, object]:
    """An agent pod as the informer holds it (pruned as it stores pods)."""
    pod = objects.pod(name, NS, {"app": "openagent"}, ready=ready, deleting=deleting, owner=None)
    return prune("pods", pod)


def test_a_ready_pod_is_a_member_an_unready_or_terminating_one_is_not() -> None:
    assert is_member(agent_pod("openagent-0"))
    assert not is_member(agent_pod("openagent-1", ready=False))
    assert not is_member(agent_pod("openagent-2", deleting=True))
    pending = prune("pods", objects.pod("openagent-3", NS, node=None, owner=None))
    assert not is_member(pending)
    assert not is_member({"metadata": {"name": "x"}, "status": "garbage"})


def test_the_agent_counts_itself_whatever_its_pods_state() -> None:
    pods = [
        agent_pod("openagent-0"),
        agent_pod("openagent-1", ready=False),
        agent_pod("openagent-2", deleting=True),
        agent_pod("openagent-3"),
    ]
    assert ownership_of(pods, "openagent-1").members == (
        "openagent-0",
        "openagent-1",
        "openagent-3",
    )
    assert ownership_of(pods, "openagent-0").members == ("openagent-0", "openagent-3")
    assert ownership_of([], "openagent-4").members == ("openagent-4",)
