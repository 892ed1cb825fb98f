"""Experiments through the API: sticky assignment (across sessions and login), arms on the
decision log, results with lift and SRM, and the report summary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import redis

from personalize.store.keys import Keys
from tests.helpers import NOW, api_client, command, event, store_fingerprint

EXPERIMENT = {
    "id": "offers-on-off",
    "description": "does showing offers raise conversion?",
    "variants": [
        {"name": "control", "weight": 1, "control": True},
        {"name": "no-offers", "weight": 1, "parameters": {"offers": False, "max_per_category": 1}},
    ],
}


async def test_experiment_assignment_results_and_summary(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url, model_poll_s=0.05, holdout_share=0.0) as api:
        r = await api.put("/v1/experiments/offers-on-off", json=EXPERIMENT)
        assert r.status_code == 200, r.text
        assert (await api.put("/v1/experiments/offers-on-off", json={"id": "offers-on-off", "variants": []})).status_code == 400
        await asyncio.sleep(0.2)  # workers load the experiment
        arms: dict[str, str] = {}
        for n in range(120):
            body = (await api.post("/v1/decide", json={"anonymous_id": f"v{n}", "session_id": f"s{n}"})).json()
            assert body["experiment_id"] == "offers-on-off"
            arms[f"v{n}"] = body["arm"]
        counts = {a: list(arms.values()).count(a) for a in ("control", "no-offers")}
        assert min(counts.values()) > 35, counts  # ~60/60
        # sticky: a new session, then after login with a new device id, the same arm
        again = (await api.post("/v1/decide", json={"anonymous_id": "v7", "session_id": "other"})).json()
        assert again["arm"] == arms["v7"]
        await api.post("/v1/events", json={"events": [event("identify", user_id="u7", anonymous_id="v7", session_id="s7")]})
        later = (await api.post("/v1/decide", json={"user_id": "u7", "anonymous_id": "new-device", "session_id": "s99"})).json()
        assert later["arm"] == arms["v7"]
        # purchases: every control visitor with an even number buys
        buys = [event("purchase", anonymous_id=v, session_id=f"s{v[1:]}", order_id=f"o-{v}", total=20.0, timestamp=NOW + 5,
                      lines=[{"item_id": "x", "price": 20.0}])
                for v, arm in arms.items() if arm == "control" and int(v[1:]) % 2 == 0]
        await api.post("/v1/events", json={"events": buys})
        res = (await api.get("/v1/experiments/offers-on-off/results")).json()
        text = json.dumps(res)
        assert "srm" in text.lower() and "lift" in text.lower(), res
        by_arm = {a["name"] if "name" in a else a.get("arm"): a for a in res.get("arms", [])} if isinstance(res.get("arms"), list) else res.get("arms", {})
        assert by_arm, res
        control = by_arm["control"]
        assert control["visitors"] == counts["control"]
        assert control["conversions"] == len(buys)
        assert by_arm["no-offers"]["conversions"] == 0
        summary = await api.get("/v1/reports/summary")
        assert summary.status_code == 200, summary.text
        assert "offers-on-off" in summary.text
        assert (await api.get("/v1/reports/summary", params={"since_days": 0})).status_code == 400
        assert (await api.get("/v1/experiments/nope/results")).status_code == 404


async def test_a_refused_put_changes_nothing(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        assert (await api.put("/v1/experiments/offers-on-off", json=EXPERIMENT)).status_code == 200
        before = store_fingerprint(redis_sync)
        r = await api.put("/v1/experiments/other", json=EXPERIMENT)  # the body names offers-on-off
        assert r.status_code == 400 and r.json()["field"] == "id", r.text
        assert "differs from the path" in r.json()["detail"]
        bad_arm = {**EXPERIMENT, "variants": [EXPERIMENT["variants"][0], {"name": "b", "parameters": {"epsilon": 5}}]}
        assert (await api.put("/v1/experiments/offers-on-off", json=bad_arm)).status_code == 400
        assert store_fingerprint(redis_sync) == before
        listed = (await api.get("/v1/experiments")).json()
        assert [e["id"] for e in listed] == ["offers-on-off"] and listed[0]["variants"][1]["name"] == "no-offers"


async def test_arm_parameters_decide_cannot_apply_are_refused_with_the_field(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    (tmp_path / "models" / "v1").mkdir(parents=True)
    (tmp_path / "models" / "v1" / "manifest.json").write_text("{}")
    async with api_client(redis_url, models_dir=tmp_path / "models") as api:
        for arms, field, reason in [
            ([{"name": "a", "parameters": {"epsilon": "x"}}, {"name": "b", "parameters": {"max_per_category": "many"}}],
             "variants[0].parameters.epsilon", "must be a number in [0, 1], got 'x'"),
            ([{"name": "a"}, {"name": "b", "parameters": {"max_per_category": "many"}}],
             "variants[1].parameters.max_per_category", "must be an integer in [1, 100]"),
            ([{"name": "a"}, {"name": "b", "parameters": {"epsilon": 5}}], "variants[1].parameters.epsilon", "[0, 1]"),
            ([{"name": "a"}, {"name": "b", "parameters": {"allow_seen": "no"}}],
             "variants[1].parameters.allow_seen", "true or false"),
            ([{"name": "a"}, {"name": "b", "parameters": {"ofers": False}}],
             "variants[1].parameters.ofers", "unknown parameter; known: allow_seen, epsilon, max_per_category, offers"),
            ([{"name": "a"}, {"name": "b", "model_version": "nope"}], "variants[1].model_version",
             "no model 'nope'; known: v1"),
            ([{"name": "a"}, {"name": "b", "weight": "heavy"}], "variants[1].weight", "Expected `float`"),
        ]:
            r = await api.put("/v1/experiments/e1", json={"id": "e1", "variants": arms})
            assert r.status_code == 400, r.text
            assert r.json()["field"] == field and reason in r.json()["detail"], r.json()
        assert (await api.get("/v1/experiments")).json() == []
        r = await api.post("/v1/decide", json={"anonymous_id": "expv1", "count": 2})
        assert r.status_code == 200 and r.json()["experiment_id"] is None, r.text
        usable = [{"name": "a", "control": True},
                  {"name": "b", "model_version": "v1",
                   "parameters": {"epsilon": 0.5, "offers": True, "max_per_category": 1, "allow_seen": False}}]
        r = await api.put("/v1/experiments/e1", json={"id": "e1", "variants": usable})
        assert r.status_code == 200, r.text


async def test_a_stored_definition_decide_cannot_apply_is_listed_as_invalid_and_not_run(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    # Stored before arms were validated (e.g. by an older version): decide would fail every
    # request in arm "a" on float("x"); it must not run it, and GET must say why.
    legacy = {"id": "e1", "variants": [{"name": "a", "parameters": {"epsilon": "x"}}, {"name": "b"}]}
    redis_sync.hset(Keys().experiments, "e1", json.dumps(legacy))
    async with api_client(redis_url, model_poll_s=0.05) as api:
        await asyncio.sleep(0.2)  # workers refresh their experiments
        (listed,) = (await api.get("/v1/experiments")).json()
        assert listed["invalid"] == "variants[0].parameters.epsilon: must be a number in [0, 1], got 'x'", listed
        for n in range(10):
            r = await api.post("/v1/decide", json={"anonymous_id": f"expv{n}", "count": 2})
            assert r.status_code == 200 and r.json()["experiment_id"] is None, r.text
        assert (await api.get("/v1/experiments/e1/results")).status_code == 200


async def test_results_since_days_is_checked_like_the_summary(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        assert (await api.put("/v1/experiments/offers-on-off", json=EXPERIMENT)).status_code == 200
        for path in ("/v1/experiments/offers-on-off/results", "/v1/reports/summary"):
            for bad in ("nan", "inf", "-inf", "1e308", "100000", "401", "-5", "0"):
                r = await api.get(path, params={"since_days": bad})
                assert r.status_code == 400, (path, bad, r.text)
                assert r.json()["field"] == "since_days" and "(0, 400]" in r.json()["detail"], r.json()
            assert (await api.get(path, params={"since_days": "400"})).status_code == 200


async def test_reports_answer_503_when_redis_stalls_past_their_deadlines(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    # 100 ms per point read, 4x that per stream chunk (reports.service.STREAM_CHUNK_DEADLINE_FACTOR)
    async with api_client(redis_url, redis_timeout_ms=100) as api:
        assert (await api.put("/v1/experiments/offers-on-off", json=EXPERIMENT)).status_code == 200
        await api.post("/v1/events", json={"events": [event("product_view", anonymous_id="v", session_id="s", item_id="x")]})
        for path in ("/v1/experiments/offers-on-off/results", "/v1/reports/summary"):
            command(redis_sync, "CLIENT", "PAUSE", 1500, "ALL")
            r = await api.get(path)
            # a 503 is the deadline's answer: waiting out the pause would have read a 200
            assert r.status_code == 503, (path, r.text)
            assert r.headers["retry-after"] == "1" and r.json()["error"] == "storage_unavailable"
            command(redis_sync, "CLIENT", "UNPAUSE")  # answered once the pause is over
            assert (await api.get(path)).status_code == 200, path
