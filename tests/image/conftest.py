"""Print what the image build measured at the end of the run."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The image's tag, size and build times, when the image tests ran."""
    from tests.image.test_image import MEASURED

    if not MEASURED:
        return
    parts = [f"{MEASURED['tag']}: {MEASURED['size_mb']:.0f} MB"]
    parts.append(f"build {MEASURED['first_build_s']:.1f} s")
    if "cached_build_s" in MEASURED:
        parts.append(f"rebuild {MEASURED['cached_build_s']:.1f} s")
    terminalreporter.write_sep("-", "image: " + ", ".join(parts))
