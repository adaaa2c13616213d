"""Query parameters of list and watch requests, decoded and validated as upstream.

Order and wording follow ``handlers/get.go`` (``ListResource``): decode the
parameters (400 on a bad number or selector), apply ``SetListOptionsDefaults``
(with the WatchList feature a legacy watch from ``""``/``"0"`` becomes a
watch-list request), run ``ValidateListOptions`` (422), then convert field
labels (400 ``field label not supported``).

Booleans use apimachinery's query conversion: absent is false; ``"0"`` and
``"false"`` (any case) are false; anything else, including ``""`` and
kubernetes_asyncio's ``"True"``, is true.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from tests.kubefake.kinds import Kind
from tests.kubefake.selectors import FieldSelector, LabelSelector, SelectorError
from tests.kubefake.status import FieldError, StatusError, bad_request, invalid_list_options

EXACT = "Exact"
NOT_OLDER_THAN = "NotOlderThan"
RVM = "resourceVersionMatch"
SIE = "sendInitialEvents"


def query_bool(value: str) -> bool:
    """Upstream `Convert_Slice_string_To_bool` for a present parameter."""
    return not (value == "0" or value.lower() == "false")


def _int(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return int(raw, 10)
    except ValueError:
        raise bad_request(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None


@dataclass(frozen=True, slots=True)
class ListOptions:
    """Decoded ``metav1.ListOptions``."""

    watch: bool = False
    resource_version: str = ""
    resource_version_match: str = ""
    limit: int = 0
    continue_token: str = ""
    timeout_seconds: int | None = None
    allow_watch_bookmarks: bool = False
    send_initial_events: bool | None = None
    label_selector: LabelSelector = field(default_factory=LabelSelector)
    field_selector: FieldSelector = field(default_factory=FieldSelector)

    @property
    def has_selectors(self) -> bool:
        """True when a label or field selector restricts the result."""
        return not (self.label_selector.empty and self.field_selector.empty)


def _validate(opts: ListOptions, watch_list: bool) -> list[FieldError]:
    """Upstream `ValidateListOptions` (with the WatchList gate as given)."""
    errs: list[FieldError] = []
    match = opts.resource_version_match

    def forbid(field: str, detail: str) -> None:
        errs.append(FieldError(field, "Forbidden", detail))

    def unsupported(supported: str) -> None:
        errs.append(
            FieldError(RVM, "Unsupported value", f'"{match}": supported values: {supported}')
        )

    if opts.watch:
        if opts.send_initial_events is not None:
            if match != NOT_OLDER_THAN:
                forbid(
                    RVM, "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
                )
            if not watch_list:
                forbid(
                    SIE,
                    f"{SIE} is forbidden for watch unless the WatchList feature gate is enabled",
                )
        if match:
            if opts.send_initial_events is None:
                forbid(RVM, f"{RVM} is forbidden for watch unless sendInitialEvents is provided")
            if match != NOT_OLDER_THAN:
                unsupported('"NotOlderThan"')
            if opts.continue_token:
                forbid(RVM, f"{RVM} is forbidden when continue is provided")
        return errs
    if match:
        if not opts.resource_version:
            forbid(RVM, f"{RVM} is forbidden unless resourceVersion is provided")
        if opts.continue_token:
            forbid(RVM, f"{RVM} is forbidden when continue is provided")
        if match not in (EXACT, NOT_OLDER_THAN):
            unsupported('"Exact", "NotOlderThan", ""')
        if match == EXACT and opts.resource_version == "0":
            forbid(RVM, f'{RVM} "exact" is forbidden for resourceVersion "0"')
    if opts.send_initial_events is not None:
        forbid(SIE, f"{SIE} is forbidden for list")
    return errs


def parse_list_options(query: Mapping[str, str], kind: Kind, watch_list: bool) -> ListOptions:
    """Decode, default and validate; raises `StatusError` (400 or 422) like the apiserver."""
    try:
        labels = LabelSelector.parse(query.get("labelSelector", ""))
        fields = FieldSelector.parse(query.get("fieldSelector", ""))
    except SelectorError as err:
        raise bad_request(str(err)) from None
    sie_raw = query.get("sendInitialEvents")
    opts = ListOptions(
        watch="watch" in query and query_bool(query["watch"]),
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=query.get("resourceVersionMatch", ""),
        limit=_int(query, "limit") or 0,
        continue_token=query.get("continue", ""),
        timeout_seconds=_int(query, "timeoutSeconds"),
        allow_watch_bookmarks="allowWatchBookmarks" in query
        and query_bool(query["allowWatchBookmarks"]),
        send_initial_events=None if sie_raw is None else query_bool(sie_raw),
        label_selector=labels,
        field_selector=fields,
    )
    if (
        watch_list
        and opts.watch
        and opts.send_initial_events is None
        and not opts.resource_version_match
        and opts.resource_version in ("", "0")
    ):
        opts = replace(opts, send_initial_events=True, resource_version_match=NOT_OLDER_THAN)
    errs = _validate(opts, watch_list)
    if errs:
        raise invalid_list_options(errs)
    try:
        converted = fields.transform(kind.convert_field_label)
    except ValueError as err:
        raise bad_request(str(err)) from None
    return replace(opts, field_selector=converted)


def parse_resource_version(raw: str) -> int:
    """``""``/``"0"`` → 0, else a non-negative integer; 400 otherwise (see module notes)."""
    if raw in ("", "0"):
        return 0
    if raw.isdigit():
        return int(raw)
    raise StatusError(400, f'invalid resource version "{raw}": must be a non-negative integer')
