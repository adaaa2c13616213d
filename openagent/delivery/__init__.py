"""Delivery: from scrape results to sinks, through bounded queues and an on-disk spool.

`Delivery` is the entry point; see `openagent.delivery.lane` for the path of
one sink, `openagent.delivery.spool` for the spool and
`openagent.delivery.metrics` for what is counted.
"""

from openagent.delivery.fanout import Delivery
from openagent.delivery.fsync import FSYNC_POLICIES, FsyncPolicy
from openagent.delivery.options import DeliveryOptions

__all__ = ["FSYNC_POLICIES", "Delivery", "DeliveryOptions", "FsyncPolicy"]
