"""The scrape room: per-target loops that fetch, parse and relabel, and their manager.

`ScrapeManager` reconciles the desired targets with running `ScrapeLoop`
tasks, configured by `ScrapeOptions`; `scrape_once` scrapes one target once
(``openagent scrape``).
"""

from openagent.scrape.bounds import TimestampBounds
from openagent.scrape.manager import ScrapeManager, ScrapeOptions, scrape_once

__all__ = ["ScrapeManager", "ScrapeOptions", "TimestampBounds", "scrape_once"]
