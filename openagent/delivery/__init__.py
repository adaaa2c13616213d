"""Delivery: from scrape results to sinks, through bounded queues and an on-disk spool.

`Delivery` (`openagent.delivery.fanout`) is the entry point. Each sink gets a
lane (`openagent.delivery.lane`): its loss ledger (`ledger`), its FIFO of
batches, a memory queue in front of the spool (`fifo`, `spool`), and the
sender that retries (`sender`). `openagent.delivery.metrics` lists what is
counted.
"""

from openagent.delivery.fanout import Delivery
from openagent.delivery.fsync import FSYNC_POLICIES, FsyncPolicy
from openagent.delivery.options import DeliveryOptions

__all__ = ["FSYNC_POLICIES", "Delivery", "DeliveryOptions", "FsyncPolicy"]
