"""The ``pcode`` label every record carries (PROTOCOL §7.4), and an exposed one renamed.

The Go agent appends ``pcode=<decimal pcode>`` to every record after the
target labels. An exposition label that is itself called ``pcode`` would then
be written twice; here it is kept as ``exported_pcode`` (prefixed again on a
collision), as Prometheus does for a clash with a target label.
"""

from __future__ import annotations

from collections.abc import Sequence

from openagent.model import Labels

EXPORTED_PREFIX = "exported_"


def rename_pcode(labels: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Rename an exposed ``pcode`` label to ``exported_pcode`` (prefixing again on collision)."""
    keys = {k for k, _ in labels}
    name = EXPORTED_PREFIX + "pcode"
    while name in keys:
        name = EXPORTED_PREFIX + name
    return [(name if k == "pcode" else k, v) for k, v in labels]


def with_pcode(labels: Labels, pcode: int) -> Labels:
    """``labels`` then ``pcode=<pcode>`` (nothing added when ``pcode`` is not positive)."""
    if pcode <= 0:
        return labels
    if any(k == "pcode" for k, _ in labels):
        labels = tuple(rename_pcode(labels))
    return (*labels, ("pcode", str(pcode)))
