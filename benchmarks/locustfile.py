"""Locust load test: storefront sessions replayed against a running personalize API.

Sessions come from real data: the YooChoose 100k test sessions when ../shared/data is
beside the checkout, else the REES46 demo log shipped with the package. Each simulated
visitor walks one real session; per page view it sends the page's events and asks for
a decision, like a storefront does:

  per page view   POST /v1/events  product_view (dwell 2-60 s)             100 %
                  POST /v1/decide  page=product, item in view, count 10    100 %
  sometimes       POST /v1/events  add_to_cart                             ~15 % of page views
                  POST /v1/events  identify (anonymous -> user)            once, on the first cart add
                  POST /v1/events  checkout_started + purchase             ~30 % of sessions with a cart
                  POST /v1/events  recommendation_click on a shown item    ~10 % of decisions
  think time      0.5-2 s between page views

Run it headless for a bounded time against a local server (it stops by itself) and keep
locust's CSV and HTML summaries:

  .venv/bin/pip install -e '.[bench]'
  .venv/bin/personalize serve &                      # or ./scripts/demo.sh in another shell
  .venv/bin/locust -f benchmarks/locustfile.py --headless -u 50 -r 10 -t 60s \
      --host http://127.0.0.1:8000 --csv var/locust --html var/locust.html

Only loopback hosts are accepted.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import random
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from locust import HttpUser, between, events, task

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "yoochoose-rsc15-100k" / "yoochoose-clicks-100k_test.txt"
_ids = itertools.count()


def load_sessions() -> list[list[str]]:
    sessions: dict[str, list[str]] = {}
    if SHARED.exists():
        with SHARED.open() as f:
            reader = csv.reader(f, delimiter="\t")
            next(reader, None)
            for sid, item, _ in reader:
                sessions.setdefault(sid, []).append(item)
    else:
        raw = resources.files("personalize.data").joinpath("rees46-2019-Oct-head.csv.gz").read_bytes()
        for row in csv.DictReader(gzip.decompress(raw).decode().splitlines()):
            sessions.setdefault(row["user_session"], []).append(row["product_id"])
    return [items for items in sessions.values() if len(items) >= 2]


SESSIONS = load_sessions()


@events.test_start.add_listener  # type: ignore[untyped-decorator]  # locust leaves EventHook.add_listener unannotated
def _loopback_only(environment: Any, **_: Any) -> None:
    host = urlparse(environment.host or "").hostname or ""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"refusing to load-test {host!r}: loopback only")


class Shopper(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.items = random.choice(SESSIONS)
        self.position = 0
        self.visitor = f"lv-{uuid.uuid4().hex[:12]}"
        self.user: str | None = None
        self.session = f"ls-{uuid.uuid4().hex[:12]}"
        self.cart: list[str] = []

    def _ids(self) -> dict[str, str]:
        ids = {"anonymous_id": self.visitor, "session_id": self.session}
        if self.user:
            ids["user_id"] = self.user
        return ids

    def _event(self, type_: str, **fields: Any) -> dict[str, Any]:
        return {"type": type_, "event_id": f"lc-{self.visitor}-{next(_ids)}", "timestamp": time.time(), **self._ids(), **fields}

    def _send(self, *evs: dict[str, Any]) -> None:
        self.client.post("/v1/events", json={"events": list(evs)}, name="/v1/events")

    @task
    def page_view(self) -> None:
        if self.position >= len(self.items):
            self._finish()
            return
        item = self.items[self.position]
        self.position += 1
        self._send(self._event("product_view", item_id=item, dwell_ms=random.randint(2_000, 60_000), context={"page_type": "product"}))
        r = self.client.post("/v1/decide", json={**self._ids(), "page": {"type": "product", "item_id": item}, "count": 10}, name="/v1/decide")
        if r.status_code == 200 and random.random() < 0.10:
            body = r.json()
            if body.get("items"):
                shown = random.choice(body["items"])["item_id"]
                self._send(self._event("recommendation_click", decision_id=body["decision_id"], item_id=shown))
        if random.random() < 0.15:
            if self.user is None:
                self.user = f"lu-{self.visitor[3:]}"
                self._send(self._event("identify", user_id=self.user, anonymous_id=self.visitor))
            self.cart.append(item)
            self._send(self._event("add_to_cart", item_id=item, price=round(random.uniform(5, 120), 2)))

    def _finish(self) -> None:
        if self.cart and random.random() < 0.30:
            lines = [{"item_id": i, "price": 20.0, "quantity": 1} for i in self.cart]
            total = 20.0 * len(lines)
            fee = 0.0 if total >= 50 else 4.99
            self._send(self._event("checkout_started", cart_value=total, shipping_fee=fee),
                       self._event("purchase", order_id=f"lo-{uuid.uuid4().hex[:10]}", lines=lines,
                                   total=total + fee, shipping_fee=fee))
        self.on_start()  # the next visitor walks another real session
