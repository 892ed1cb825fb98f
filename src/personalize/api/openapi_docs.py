"""What litestar cannot derive for the OpenAPI document: the request body of a route that
reads its body itself, and the one error shape every route answers with.

``POST /v1/events`` decodes its body in the handler so that one bad event is rejected alone
(a ``data`` parameter would reject the whole batch); its body schema is generated here by
msgspec from the same event types the handler decodes, and added to the document litestar
builds (once per app).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import (
    OpenAPIPlugin,  # no public name; tests/test_openapi.py guards it
)
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)

_REF = "#/components/schemas/{name}"


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every 4xx/5xx answer (api/errors.py)."""

    error: str  # e.g. validation_error, bad_request, batch_too_large, not_found, storage_unavailable
    field: str | None  # the field to fix, when one is to blame
    detail: str
    errors: list[dict[str, Any]] | None = None  # litestar's validation details, when there are several


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """``responses=`` for a route: the error shape under the codes it can answer with."""
    meaning = {
        400: "Bad input: malformed JSON or a value that fails validation (`field` names it)",
        404: "Not found",
        413: "Body or batch too large",
        415: "A compressed or otherwise encoded body (send plain JSON)",
        422: "Every event of the batch was rejected (per-event results in the body)",
        503: "The state store did not answer within its deadline; retry (Retry-After)",
    }
    return {code: ResponseSpec(data_container=ErrorBody, description=meaning[code]) for code in codes}


def document_request_bodies(app: Litestar, bodies: Mapping[tuple[str, str], tuple[type[Any], str]]) -> None:
    """Add ``(path, method) -> (body type, description)`` request bodies to the app's document.

    litestar builds the document once and caches it; it is built here (a few ms, once per
    app) and completed in place, so every later request for it serves the completed one."""
    _add_bodies(app.plugins.get(OpenAPIPlugin).provide_openapi(), bodies)


def _add_bodies(openapi: OpenAPI, bodies: Mapping[tuple[str, str], tuple[type[Any], str]]) -> None:
    types = [body_type for body_type, _ in bodies.values()]
    top, components = msgspec.json.schema_components(types, ref_template=_REF)
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    for name, schema in components.items():
        # msgspec's JSON Schema dicts serialise as they are (litestar normalises only its own objects)
        openapi.components.schemas.setdefault(name, cast(Schema, schema))
    for ((path, method), (_, description)), schema in zip(bodies.items(), top, strict=True):
        item = (openapi.paths or {}).get(path)
        operation: Operation | None = getattr(item, method.lower(), None) if item is not None else None
        if operation is None:
            raise LookupError(f"no {method} {path} in the OpenAPI document")
        operation.request_body = RequestBody(
            content={"application/json": OpenAPIMediaType(schema=Reference(ref=schema["$ref"]))},
            description=description,
            required=True,
        )
