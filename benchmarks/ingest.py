"""Ingest benchmark: events/s and batch latency for batches of 1, 100 and 500.

Production settings: `personalize serve` (granian, uvloop, 2 workers) on an embedded Redis
with AOF everysec on its unix socket (--tcp: over loopback TCP), all on this machine. Events
are the real REES46 demo log (views, carts, purchases, identifies: many visitors
interleaved, as a collector would batch them: ~91 visitors per 100 events), given fresh
event ids so nothing is a duplicate. One more shape for information: the same events
grouped by visitor (a collector keyed by visitor; ~25 visitors per 100 events). Floors
measured in the same run: a bare Redis round trip and a litestar hello-world POST of the
same bodies on the same server settings.

Usage: python -m benchmarks.ingest [--seconds 8] [--redis-server redis-server] [--tcp]
"""

from __future__ import annotations

import argparse
import json
import time

from benchmarks import loadgen
from benchmarks.common import (
    SERVER_PIDS,
    add_redis_server_option,
    api_server,
    embedded_redis,
    hello_server,
    machine_line,
    redis_cpu_s,
    redis_forks,
    redis_memory_mb,
    redis_round_trip,
    tree_cpu_s,
    tree_rss_mb,
)
from personalize.demo import convert, demo_rows

GOAL_EVENTS_PER_S = 30_000
BY_VISITOR = ", by visitor"


def event_pool(n: int, namespace: str = "") -> list[dict[str, object]]:
    """n events with ids unique within ``namespace``: each shape of a run uses its own, or
    its batches would reuse the ids of an earlier shape's (with other timestamps) and be
    rejected as conflicts (422), which then counted as errors and as cheap requests."""
    base = convert(demo_rows(), end_at=time.time() - 30)
    out: list[dict[str, object]] = []
    rep = 0
    while len(out) < n:
        suffix = f"-{namespace}r{rep}"
        for e in base:
            e2 = dict(e)
            e2["event_id"] = f"{e['event_id']}{suffix}"
            # a fresh population per repetition, so merges and first sessions recur realistically
            for key in ("user_id", "anonymous_id"):
                if key in e2:
                    e2[key] = f"{e2[key]}{suffix}"
            if "order_id" in e2:
                e2["order_id"] = f"{e2['order_id']}{suffix}"
            out.append(e2)
        rep += 1
    return out[:n]


def grouped_by_visitor(events: list[dict[str, object]]) -> list[dict[str, object]]:
    """The events reordered so each visitor's events are adjacent (in their own order)."""
    def visitor(e: dict[str, object]) -> str:
        return str(e.get("anonymous_id") or e.get("user_id"))
    first_seen: dict[str, int] = {}
    for i, e in enumerate(events):
        first_seen.setdefault(visitor(e), i)
    return sorted(events, key=lambda e: first_seen[visitor(e)])  # stable: order kept per visitor


def requests_for(events: list[dict[str, object]], batch: int, path: str) -> list[bytes]:
    return [
        loadgen.http_request("POST", path, json.dumps({"events": events[i:i + batch]}).encode())
        for i in range(0, len(events) - batch + 1, batch)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    add_redis_server_option(parser)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--no-aof", action="store_true", help="embedded Redis without AOF (operators may choose it)")
    args = parser.parse_args()
    print(machine_line())
    print("data: real REES46 log (see src/personalize/data/CREDITS.md), replicated with fresh ids and visitors")
    shapes = [(1, 32, 60_000), (100, 4, 400_000), (500, 2, 500_000)]
    cpu_rows = []
    print(f"redis: embedded redis-server, AOF {'off' if args.no_aof else 'on (appendfsync everysec)'}")
    with embedded_redis(appendonly=not args.no_aof, binary=args.redis_server, tcp=args.tcp) as redis_server:
        p50, p99, rtps = redis_round_trip(redis_server.url)
        print(f"floor  bare Redis round trip (PING, one client): p50 {p50:.3f} ms  p99 {p99:.3f} ms  {rtps:,.0f}/s")
        rows = []
        with hello_server() as port:
            for batch, conns, n in shapes:
                events = event_pool(min(n, 50_000))
                reqs = requests_for(events, batch, "/echo")
                res = loadgen.run("closed", port, reqs, args.seconds / 2, connections=conns, processes=1)
                rows.append(("hello-world POST (same body)", batch, res))
            hello_get = loadgen.run("closed", port, [loadgen.http_request("GET", "/hello")], args.seconds / 2, connections=32)
        print(f"floor  litestar hello-world GET, same server settings: {hello_get.rps:,.0f} req/s  p50 {hello_get.pct(50):.2f} ms  p99 {hello_get.pct(99):.2f} ms")
        with api_server(redis_server.url) as port:
            runs = [("", batch, conns, n) for batch, conns, n in shapes] + [(BY_VISITOR, 100, 4, 400_000)]
            for label, batch, conns, n in runs:
                # Enough distinct events for the run (batches of 1: ~10,000/s, else ~50,000/s),
                # never resent: a resent event is a duplicate, cheap and not what is measured.
                size = max(n, int(args.seconds * (10_000 if batch == 1 else 50_000)))
                pool = event_pool(size, namespace=f"b{batch}{label[2:4]}")
                if label == BY_VISITOR:
                    pool = grouped_by_visitor(pool)
                reqs = requests_for(pool, batch, "/v1/events")
                redis_cpu0, api_cpu0 = redis_cpu_s(redis_server.url), tree_cpu_s(SERVER_PIDS["api"])
                forks0 = redis_forks(redis_server.url)
                res = loadgen.run("closed", port, reqs, args.seconds, connections=conns, processes=1, wrap=False)
                if res.exhausted:
                    print(f"note: batch {batch}{label}: all {len(reqs):,} requests sent in {res.elapsed_s:.1f} s; "
                          "figures are over that time")
                n_events = len(res.latencies_s) * batch
                cpu_rows.append((label, batch, (redis_cpu_s(redis_server.url) - redis_cpu0) / n_events * 1e6,
                                 (tree_cpu_s(SERVER_PIDS["api"]) - api_cpu0) / n_events * 1e6,
                                 redis_forks(redis_server.url) - forks0))
                rows.append((f"personalize POST /v1/events{label}", batch, res))
            rss = tree_rss_mb(SERVER_PIDS["api"])
        mem = redis_memory_mb(redis_server.url)
    print(f"{'what':40} {'batch':>5} {'req/s':>9} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for name, batch, res in rows:
        print(f"{name:40} {batch:>5} {res.rps:>9,.0f} {res.rps * batch:>10,.0f} {res.pct(50):>8.2f} {res.pct(99):>8.2f} {res.errors:>6}")
    for label, batch, redis_us, api_us, forks in cpu_rows:
        print(f"cpu per event, batch {batch:>3}{label:12}: Redis {redis_us:6.1f} us, API workers {api_us:6.1f} us; "
              f"AOF rewrites during the run: {forks}")
    best100 = next(res.rps * 100 for name, b, res in rows if b == 100 and name == "personalize POST /v1/events")
    print(f"memory: server (main + 2 workers) RSS {rss:,.0f} MB; Redis used_memory {mem:,.0f} MB after the run")
    print(f"goal: >= {GOAL_EVENTS_PER_S:,} events/s in batches of 100 -> {'MET' if best100 >= GOAL_EVENTS_PER_S else 'NOT MET'} ({best100:,.0f})")


if __name__ == "__main__":
    main()
