"""More than one core in one pod: worker processes that each scrape a share of the targets.

One Python process keeps one core busy at most. With ``--workers N`` the
agent keeps its config source, discovery, Kubernetes connection and HTTP
server, and starts N worker processes (`WorkerPool`, `WorkerProcess`), each
with its own scrape manager, delivery, sinks and spool. The agent splits the
targets by rendezvous hashing and sends each worker its share over a socket
pair (`openagent.workers.wire`); the worker's end is `AgentLink`
(`openagent.workers.child`). The room knows targets and processes, never
how a worker scrapes or delivers: the shell builds that in each worker.
"""

from openagent.workers.child import AgentLink, AgentSecrets, Scrapers, read_boot
from openagent.workers.pool import Row, WorkerPool
from openagent.workers.process import Boot, WorkerOptions, WorkerProcess

__all__ = [
    "AgentLink",
    "AgentSecrets",
    "Boot",
    "Row",
    "Scrapers",
    "WorkerOptions",
    "WorkerPool",
    "WorkerProcess",
    "read_boot",
]
