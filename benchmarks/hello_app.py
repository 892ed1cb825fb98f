"""The floor: a litestar hello-world, served with the same server settings as the API."""

from litestar import Litestar, get, post


@get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@post("/echo", status_code=202)
async def echo(data: dict[str, object]) -> dict[str, int]:
    return {"n": len(data)}


def app() -> Litestar:
    return Litestar(route_handlers=[hello, echo])
