"""The quantity parser the manifest tests compare resources with."""

from __future__ import annotations

import pytest

from tests.deploy.quantity import quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [("100m", 0.1), ("1", 1.0), (2, 2.0), ("512Mi", 512 * 2**20), ("1Gi", 2**30), ("1M", 1e6)],
)
def test_quantity_reads_cpu_and_binary_and_decimal_sizes(text: str | int, value: float) -> None:
    assert quantity(text) == value


def test_quantity_rejects_what_is_not_a_quantity() -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity("1GiB")
