"""Sharding: which of the discovered targets this agent scrapes, when several share them.

Three ways, chosen by the shell (`openagent.wiring.shard`):

* not sharded: every target is this agent's;
* static (`StaticShard`): shard ``OPENAGENT_SHARD_INDEX`` of
  ``OPENAGENT_SHARD_COUNT``, the index defaulting to the StatefulSet ordinal
  in ``POD_NAME``; a replica that dies keeps its targets unscraped until it
  is back;
* live membership (`PodMembership`): the agent's own pods matching
  ``OPENAGENT_SHARD_SELECTOR`` in ``POD_NAMESPACE``, Ready and not
  terminating, read from a pod informer; when one goes away the others take
  its targets, when it comes back it takes its own share back.

Either way each target goes to the member with the highest rendezvous weight
for its id (`Ownership`), and the `Assigner` hands the agent's scrapers
their share, with the ids handed to other members so that those stop
without stale markers. The room sits between discovery and scraping, reads
the cluster only through `openagent.kube`, and knows targets by id only.
"""

from openagent.shard.assigner import Apply, Assigner, Shard
from openagent.shard.members import is_member, ownership_of
from openagent.shard.membership import MembershipOptions, PodMembership
from openagent.shard.ownership import Ownership
from openagent.shard.static import StaticShard, statefulset_ordinal, static_index

__all__ = [
    "Apply",
    "Assigner",
    "MembershipOptions",
    "Ownership",
    "PodMembership",
    "Shard",
    "StaticShard",
    "is_member",
    "ownership_of",
    "static_index",
    "statefulset_ordinal",
]
