"""One error shape for every 4xx/5xx: {"error": code, "field": name|null, "detail": text}."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from personalize.metrics import REDIS_ERRORS
from personalize.service.ingest import BadBatch, BatchTooLarge
from personalize.store.client import StoreUnavailable

log = logging.getLogger("personalize.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.field = status, code, detail, field


def _body(code: str, detail: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": code, "field": field, "detail": detail, **extra}


def _json(status: int, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(body, status_code=status, media_type=MediaType.JSON)


def api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[dict[str, Any]]:
    return _json(exc.status, _body(exc.code, exc.detail, exc.field))


def bad_batch(_: Request[Any, Any, Any], exc: BadBatch) -> Response[dict[str, Any]]:
    return _json(400, _body("bad_request", exc.reason, exc.field))


def batch_too_large(_: Request[Any, Any, Any], exc: BatchTooLarge) -> Response[dict[str, Any]]:
    return _json(413, _body("batch_too_large", str(exc), "events", limit=exc.limit))


def store_unavailable(_: Request[Any, Any, Any], exc: StoreUnavailable) -> Response[dict[str, Any]]:
    REDIS_ERRORS.labels(operation="request").inc()
    log.warning("redis unavailable", extra={"fields": {"error": str(exc)[:200]}})
    return Response(
        _body("storage_unavailable", "the state store did not answer in time; retry later"),
        status_code=503, media_type=MediaType.JSON, headers={"Retry-After": "1"},
    )


_NAMED_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<f>[^`]+)`")
# litestar names the whole request body "data" (the handler's parameter)
_BODY = "data"


def _field_of(key: str | None, message: str) -> str | None:
    """The field a client must fix: msgspec names an unknown or missing field only in its
    message, with the key of the object that holds it."""
    named = _NAMED_FIELD.match(message)
    if named:
        return named.group("f") if key in (None, _BODY) else f"{key}.{named.group('f')}"
    return "body" if key == _BODY else key


def validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    field = None
    detail = str(exc.detail)
    if extra and isinstance(extra[0], dict):
        detail = str(extra[0].get("message") or detail)
        field = _field_of(extra[0].get("key"), detail)
        if detail == f"'{_BODY}'":  # no body at all
            detail = "a JSON body is required"
    return _json(400, _body("validation_error", detail, field, errors=extra))


def _from_decoding(exc: BaseException) -> bool:
    """litestar wraps a body the JSON decoder refused (malformed, a number out of range, bad
    UTF-8) in its own 400; the decoder's error is somewhere down the chain."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, msgspec.DecodeError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    code = "not_found" if isinstance(exc, NotFoundException) else "http_error"
    detail = str(exc.detail)
    if exc.status_code == 413:
        code = "body_too_large"
    elif exc.status_code == 400 and _from_decoding(exc):
        # the same answer /v1/events gives for a body that is not JSON
        return _json(400, _body("bad_request", f"malformed JSON ({detail})", "body"))
    return _json(exc.status_code, _body(code, detail))


def nested_too_deep(_: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    # A few KB of "[[[[..." exhausts the decoder's recursion before any size limit applies.
    return _json(400, _body("bad_request", "JSON nested too deeply", "body"))


def unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", exc_info=exc)
    return _json(HTTP_500_INTERNAL_SERVER_ERROR, _body("internal_error", "unexpected error; it has been logged"))


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: api_error,
    BadBatch: bad_batch,
    BatchTooLarge: batch_too_large,
    StoreUnavailable: store_unavailable,
    ValidationException: validation_error,
    HTTPException: http_error,
    RecursionError: nested_too_deep,
    Exception: unexpected,
}
