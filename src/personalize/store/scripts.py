"""Lua scripts shipped with the package, loaded once per client and run by SHA."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def lua_source(name: str) -> str:
    return resources.files("personalize.store").joinpath("lua", f"{name}.lua").read_text()
