"""The real thing: `personalize serve` as a user starts it (embedded Redis, granian workers),
driven over HTTP on loopback, plus the import commands against it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from personalize.store.embedded import free_port

NOW = time.time()


def start_server(data_dir: Path, port: int, **env_extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PERSONALIZE_DATA_DIR=str(data_dir), PERSONALIZE_PORT=str(port), PERSONALIZE_WORKERS="2",
               PERSONALIZE_MODELS_DIR=str(data_dir / "models"), PERSONALIZE_LOG_LEVEL="WARNING", **env_extra)
    proc = subprocess.Popen([sys.executable, "-m", "personalize.cli.main", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read().decode() if proc.stdout else "server exited"
            stop_server(proc)
            raise AssertionError(output)
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    stop_server(proc)
    raise AssertionError("server did not become ready")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    # The server runs in its own process group: whatever a slow shutdown left behind
    # (a granian worker, the embedded redis-server) goes with it, not into the next test.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    proc = start_server(tmp_path, port)
    try:
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        stop_server(proc)


def cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "personalize.cli.main", *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_serve_with_embedded_redis_metrics_schema_and_durable_restart(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(tmp_path, port)
    try:
        ev = {"type": "product_view", "event_id": "srv-1", "timestamp": NOW - 5, "anonymous_id": "v1", "session_id": "s1", "item_id": "i1"}
        r = httpx.post(f"{base}/v1/events", json={"events": [ev]})
        assert r.status_code == 202 and r.json()["accepted"] == 1
        ready = httpx.get(f"{base}/health/ready").json()
        assert ready["redis"]["ok"] is True and ready["redis"]["latency_ms"] >= 0
        metrics = httpx.get(f"{base}/metrics").text
        assert 'personalize_events_total{result="accepted",type="product_view"}' in metrics
        assert "personalize_request_seconds_bucket" in metrics and 'route="/v1/events"' in metrics
        schema = httpx.get(f"{base}/schema/openapi.json").json()
        assert {"/v1/events", "/v1/decide", "/v1/profiles/{user_id}", "/v1/items"} <= set(schema["paths"])
        assert schema["paths"]["/v1/events"]["post"]["requestBody"]["required"] is True
        assert httpx.post(f"{base}/v1/events", content=b"{oops", headers={"content-type": "application/json"}).status_code == 400
        assert httpx.post(f"{base}/v1/events", content=b"x" * 2_000_000).status_code == 413
    finally:
        stop_server(proc)
    assert (tmp_path / "redis" / "appendonly.aof").exists()
    # acknowledged events survive a restart of the service and its embedded Redis (AOF)
    proc = start_server(tmp_path, port)
    try:
        profile = httpx.get(f"{base}/v1/profiles/v1", params={"anonymous": True}).json()
        assert profile["product_views"] == 1
    finally:
        stop_server(proc)


def test_import_items_and_profiles_with_rejected_rows(server: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = server
    items = tmp_path / "items.csv"
    items.write_text("sku,name,category,price,in_stock,colour\nA1,Shoe,shoes,59.90,yes,red\nA2,Sock,socks,-3,yes,blue\nA3,Hat,hats,12,0,\n")
    r = cli("import-items", str(items), "--api", base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 imported" in r.stdout and "1 rejected" in r.stdout and "price" in r.stdout
    item = httpx.get(f"{base}/v1/items/A1").json()
    assert item["title"] == "Shoe" and item["attributes"] == {"colour": "red"}
    assert httpx.get(f"{base}/v1/items/A3").json()["in_stock"] is False

    leads = tmp_path / "leads.csv"
    leads.write_text("email,first_name,city,consent_marketing\nAnn@Example.com,Ann,Lyon,yes\n,NoId,Paris,no\nbo@example.com,Bo,Nantes,no\n")
    r = cli("import-profiles", str(leads), "--api", base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 imported" in r.stdout and "1 rejected" in r.stdout
    again = cli("import-profiles", str(leads), "--api", base)
    assert "0 imported, 2 already present" in again.stdout  # re-import is idempotent
    import hashlib
    uid = "e-" + hashlib.sha256(b"ann@example.com").hexdigest()[:24]
    profile = httpx.get(f"{base}/v1/profiles/{uid}").json()
    assert profile["traits"] == {"email": "Ann@Example.com", "first_name": "Ann", "city": "Lyon"}  # kept for the email channel; the id is hashed
    assert profile["consent"]["marketing"] is True


def test_crm_column_headers_become_trait_names() -> None:
    from personalize.cli.imports import trait_name

    assert [trait_name(c) for c in ("First Name", " E-Mail Opt.In ", "Größe", "x" * 80)] == [
        "first_name", "e-mail_opt.in", "gr_e", "x" * 64]


EXAMPLE_OFFERS = Path(__file__).resolve().parents[1] / "examples" / "offers.yaml"


def test_the_offers_file_is_applied_at_start_and_api_edits_stand(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    offers = tmp_path / "offers.yaml"
    offers.write_text(EXAMPLE_OFFERS.read_text())
    proc = start_server(tmp_path, port, PERSONALIZE_OFFERS_FILE=str(offers))
    try:
        ids = [o["id"] for o in httpx.get(f"{base}/v1/offers").json()["offers"]]
        assert len(ids) == 6
        assert httpx.delete(f"{base}/v1/offers/{ids[0]}").status_code in (200, 204)
    finally:
        stop_server(proc)
    proc = start_server(tmp_path, port, PERSONALIZE_OFFERS_FILE=str(offers))  # the same file again
    try:
        assert len(httpx.get(f"{base}/v1/offers").json()["offers"]) == 5  # the API's edit stands
    finally:
        stop_server(proc)
    broken = tmp_path / "broken.yaml"
    broken.write_text("offers:\n  - id: x\n    kind: teleport\n")
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PERSONALIZE_DATA_DIR=str(tmp_path / "b"), PERSONALIZE_OFFERS_FILE=str(broken))
    done = subprocess.run([sys.executable, "-m", "personalize.cli.main", "serve"], env=env, capture_output=True, check=False,
                          text=True, timeout=60)
    assert done.returncode == 2 and "PERSONALIZE_OFFERS_FILE" in done.stderr and "teleport" in done.stderr, done.stderr


async def test_a_changed_offers_file_replaces_the_catalog(redis_url: str, redis_sync: redis.Redis) -> None:
    from personalize.offers.catalog import load_catalog
    from personalize.store.client import make_async_client
    from personalize.store.keys import Keys
    from personalize.store.offer_store import OfferStore

    client = make_async_client(redis_url, 2000)
    store = OfferStore(client, Keys("pz"))
    catalog = load_catalog(EXAMPLE_OFFERS)
    try:
        assert await store.apply_file(catalog, "digest-1") is True
        assert await store.apply_file(catalog, "digest-1") is False  # unchanged: API edits would stand
        await store.delete(next(iter(catalog.offers)))
        assert await store.apply_file(catalog, "digest-2") is True  # a changed file wins
        assert len((await store.load())[1]) == len(catalog)
    finally:
        await client.aclose()
