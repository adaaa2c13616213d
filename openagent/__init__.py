"""openagent: finds GPU metric exporters, scrapes them and delivers their metrics."""

__version__ = "0.1.0"
