"""`metav1.Status` bodies and the exception that carries them to the HTTP layer.

Every error the fake returns is a single-line JSON Status, shaped like the
ones ``k8s.io/apimachinery/pkg/api/errors`` builds, because clients parse
them: kubernetes_asyncio turns a one-line Status with ``code`` into an
``ApiException`` and treats anything else as stream data.
"""

from __future__ import annotations

from typing import Any

import orjson

JSON = dict[str, Any]

#: The reason apimachinery attaches to each HTTP code it produces itself.
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_body(
    code: int,
    message: str,
    reason: str | None = None,
    details: JSON | None = None,
    list_continue: str | None = None,
) -> JSON:
    """Build a failure Status object (as the apiserver serialises it)."""
    metadata: JSON = {"continue": list_continue} if list_continue else {}
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": metadata,
        "status": "Failure",
        "message": message,
    }
    reason = reason if reason is not None else _REASONS.get(code, "")
    if reason:
        body["reason"] = reason
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


class StatusError(Exception):
    """An API error: an HTTP code, a Status body and extra response headers."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: JSON | None = None,
        *,
        list_continue: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.body = status_body(code, message, reason, details, list_continue)
        self.headers = headers or {}

    def to_bytes(self) -> bytes:
        """The single-line JSON body."""
        return orjson.dumps(self.body)


def bad_request(message: str) -> StatusError:
    """400 BadRequest, as `errors.NewBadRequest` makes it (no details)."""
    return StatusError(400, message)


def not_found(resource: str, group: str, name: str) -> StatusError:
    """404 for a named object: ``pods "x" not found``."""
    qualified = f"{resource}.{group}" if group else resource
    details: JSON = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return StatusError(404, f'{qualified} "{name}" not found', details=details)


def path_not_found() -> StatusError:
    """404 for an API path that names no resource."""
    return StatusError(404, "the server could not find the requested resource", details={})


def expired(message: str, list_continue: str | None = None) -> StatusError:
    """410 Expired (`errors.NewResourceExpired`)."""
    return StatusError(410, message, list_continue=list_continue)


def too_large_resource_version(requested: int, current: int) -> StatusError:
    """504 from the watch cache when a resourceVersion did not arrive within 3 s."""
    return StatusError(
        504,
        f"Too large resource version: {requested}, current: {current}",
        details={
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
    )


_FIELD_REASONS = {"Forbidden": "FieldValueForbidden", "Unsupported value": "FieldValueNotSupported"}


class FieldError:
    """One `field.Error`: the field, its type ("Forbidden", "Unsupported value") and detail."""

    __slots__ = ("detail", "field", "kind")

    def __init__(self, field: str, kind: str, detail: str) -> None:
        self.field = field
        self.kind = kind
        self.detail = detail

    def body(self) -> str:
        """`ErrorBody()`: the type and detail, without the field."""
        return f"{self.kind}: {self.detail}"

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> JSON:
        """The StatusCause the apiserver lists for this error."""
        return {"reason": _FIELD_REASONS[self.kind], "message": self.body(), "field": self.field}


def invalid_list_options(errors: list[FieldError]) -> StatusError:
    """422 for rejected ListOptions (`ValidateListOptions`)."""
    joined = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(map(str, errors)) + "]"
    return StatusError(
        422,
        f'ListOptions.meta.k8s.io "" is invalid: {joined}',
        details={
            "group": "meta.k8s.io",
            "kind": "ListOptions",
            "causes": [err.cause() for err in errors],
        },
    )


def forbidden(
    user: str,
    verb: str,
    resource: str,
    group: str,
    namespace: str | None,
    name: str | None,
) -> StatusError:
    """403 as the authorizer's `responsewriters.Forbidden` renders it."""
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    reason_text = (
        f'User "{user}" cannot {verb} resource "{resource}" in API group "{group}" {scope}'
    )
    qualified = f"{resource}.{group}" if group else resource
    prefix = f'{qualified} "{name}"' if name else qualified
    details: JSON = {"kind": resource}
    if name:
        details = {"name": name, **details}
    if group:
        details["group"] = group
    return StatusError(403, f"{prefix} is forbidden: {reason_text}", details=details)


def forbidden_path(user: str, path: str) -> StatusError:
    """403 for a non-resource path (e.g. ``/api`` for an anonymous user)."""
    return StatusError(403, f'forbidden: User "{user}" cannot get path "{path}"', details={})


def unauthorized() -> StatusError:
    """401 for a missing or unknown bearer token."""
    return StatusError(401, "Unauthorized")


def injected(code: int, message: str) -> StatusError:
    """An error injected by a test (500, 503, 429, ...), shaped like the real one."""
    if code == 500:
        return StatusError(
            500,
            f"Internal error occurred: {message}",
            details={"causes": [{"message": message}]},
        )
    if code == 429:
        return StatusError(
            429,
            message or "Too many requests, please try again later.",
            details={"retryAfterSeconds": 1},
            headers={"Retry-After": "1"},
        )
    return StatusError(code, message)
