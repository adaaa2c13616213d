"""A small GPU cluster in the fake API server: one node, and one GPU pod for each way a
workload can own a pod (see `tests.kube.test_attribution` and the scrape tests)."""

from __future__ import annotations

from dataclasses import dataclass

from openagent.kube.attribution import AttributionOptions, WorkloadResolver
from openagent.kube.client import KubeClient
from tests.kubefake import FakeKubeServer
from tests.kubefake.objects import controlled, node, pod

NODE = "gpu-node-1"
NODE_LABELS = {
    "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
    "node.kubernetes.io/instance-type": "p4d.24xlarge",
    "topology.kubernetes.io/zone": "us-east-1a",
    "kubernetes.io/hostname": NODE,
}
OPTIONS = AttributionOptions(
    pod_labels=("team", "app.kubernetes.io/name"),
    node_labels=(
        "nvidia.com/gpu.product",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/zone",
    ),
)
NODE_OUT = (
    ("node_label_nvidia_com_gpu_product", "NVIDIA-A100-SXM4-80GB"),
    ("node_label_node_kubernetes_io_instance_type", "p4d.24xlarge"),
    ("node_label_topology_kubernetes_io_zone", "us-east-1a"),
)


@dataclass(frozen=True)
class GpuPod:
    namespace: str
    name: str
    kind: str
    workload: str
    team: str


PODS = (
    GpuPod("ml", "trainer-7d9f8-abcde", "Deployment", "trainer", "research"),
    GpuPod("ml", "nightly-29017-q8z2x", "CronJob", "nightly", "platform"),
    GpuPod("serving", "infer-0", "StatefulSet", "infer", "inference"),
    GpuPod("ml", "notebook", "Pod", "notebook", "research"),
)


def populate(kube: FakeKubeServer) -> None:
    """The node, the owners in the middle of each chain, and the four GPU pods."""
    store = kube.store
    store.create(node(NODE, labels=NODE_LABELS))
    store.create(controlled("ReplicaSet", "trainer-7d9f8", "ml", ("Deployment", "trainer")))
    store.create(controlled("Job", "nightly-29017", "ml", ("CronJob", "nightly")))
    owners: dict[str, tuple[str, str] | None] = {
        "trainer-7d9f8-abcde": ("ReplicaSet", "trainer-7d9f8"),
        "nightly-29017-q8z2x": ("Job", "nightly-29017"),
        "infer-0": ("StatefulSet", "infer"),
        "notebook": None,
    }
    for p in PODS:
        labels = {"team": p.team, "app.kubernetes.io/name": p.workload, "pod-template-hash": "x"}
        store.create(pod(p.name, p.namespace, labels=labels, node=NODE, owner=owners[p.name]))


def expected(p: GpuPod) -> tuple[tuple[str, str], ...]:
    """What the resolver gives samples naming ``p``."""
    return (
        ("workload_kind", p.kind),
        ("workload", p.workload),
        ("label_team", p.team),
        ("label_app_kubernetes_io_name", p.workload),
    )


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def world_resolver(kube: FakeKubeServer, client: KubeClient, clock: Clock) -> WorkloadResolver:
    """This world in ``kube``, and a resolver that reads it through ``client`` on ``clock``."""
    populate(kube)

    async def connect() -> KubeClient:
        return client

    return WorkloadResolver(connect, OPTIONS, clock=clock)
