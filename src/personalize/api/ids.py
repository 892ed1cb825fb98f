"""Ids taken from a URL (path or query), held to the same rules as ids in request bodies."""

from __future__ import annotations

import msgspec

from personalize.api.errors import ApiError
from personalize.domain.events import Id


def validated_id(value: str, name: str) -> str:
    """``value`` if it is a valid id, else a 400 naming ``name``.

    An id no body could have stored is an error, never cut down to one that might exist
    (a truncated id would answer with another record's data).
    """
    try:
        return msgspec.convert(value, Id)
    except msgspec.ValidationError as exc:
        raise ApiError(400, "validation_error", f"{name}: {exc}", name) from exc
