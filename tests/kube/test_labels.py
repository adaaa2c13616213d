"""Label selectors as text: what the API server would accept passes, a typo is named."""

from __future__ import annotations

import pytest

from openagent.kube.labels import check_label_selector
from tests.kubefake.selectors import LabelSelector


@pytest.mark.parametrize(
    "selector",
    [
        "app=openagent",
        " app.kubernetes.io/name=openagent ",
        "app==openagent,tier!=web",
        "app.kubernetes.io/name in (openagent, whatap-open-agent),!legacy",
        "env notin (dev)",
        "canary",
        "release=",
        "replicas>2",
    ],
)
def test_valid_selectors_pass_stripped(selector: str) -> None:
    assert check_label_selector(selector) == selector.strip()


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        ("", "the label selector is empty"),
        ("app=open agent", "'app=open agent' in the label selector"),
        ("=openagent", "is not a requirement"),
        ("app=a,,b=c", "'' in the label selector"),
        ("app in ()", "bad value list"),
        ("app in (a b)", "bad value list"),
        ("app=" + "x" * 64, "longer than 63 characters"),
        ("x" * 64 + "=a", "is too long"),
    ],
)
def test_malformed_selectors_are_named(selector: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        check_label_selector(selector)
    # apimachinery refuses an empty value set; the fake API server's parser lets it through.
    if selector and selector != "app in ()":
        with pytest.raises(Exception):  # noqa: B017
            LabelSelector.parse(selector)


def test_the_fake_api_server_accepts_what_passes() -> None:
    for selector in ("app=openagent", "a in (b, c),!d", "e notin (f)", "g!=h"):
        LabelSelector.parse(check_label_selector(selector))
