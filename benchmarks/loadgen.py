"""A lean HTTP/1.1 keep-alive load generator for loopback benchmarks.

httpx costs more CPU per request than the server under test, so requests are
pre-encoded and written on raw asyncio streams. Two modes:
  closed loop: C connections send as fast as answers come back (max throughput);
  open loop:   requests are *scheduled* at a fixed rate and latency is measured from the
               scheduled time, so a slow server cannot hide its queueing (no coordinated
               omission).
Runs in worker processes so the generator does not cap the result on one core.

The generator must not pause itself: a forked worker inherits its parent's heap (numpy, the
project, the request bodies), and one full garbage collection over it stalled sending for
~40 ms, a burst the server then drained for ~15 ms more: every p99 at 1,000/s carried it
(the run that hit it read 13 ms instead of 6). The inherited heap is frozen and the
collector stays off while measuring (a run allocates little that is cyclic). Connections are
opened before the open loop's clock starts, so connecting is not counted as queueing.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

RequestFactory = Callable[[int], bytes]  # i -> full HTTP request bytes


def http_request(method: str, path: str, body: bytes = b"", host: str = "127.0.0.1") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


@dataclass
class Result:
    latencies_s: np.ndarray
    errors: int
    elapsed_s: float
    exhausted: bool = False  # wrap=False and every request was sent before the duration ended

    @property
    def rps(self) -> float:
        return len(self.latencies_s) / self.elapsed_s if self.elapsed_s else 0.0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q) * 1000) if len(self.latencies_s) else float("nan")


async def _closed(
    port: int, requests: Sequence[bytes], connections: int, duration_s: float, wrap: bool = True
) -> tuple[list[float], int, float]:
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + duration_s
    counter = [0]

    async def conn() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop:
            i = counter[0]
            if not wrap and i >= len(requests):
                break  # every request sent once: repeating them would measure something else
            counter[0] += 1
            t0 = time.perf_counter()
            writer.write(requests[i % len(requests)])
            status = await _read_response(reader)
            lat.append(time.perf_counter() - t0)
            if status >= 400:
                errors += 1
        writer.close()

    t = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(connections)))
    return lat, errors, time.perf_counter() - t


async def _open(port: int, requests: Sequence[bytes], rate: float, duration_s: float, connections: int) -> tuple[list[float], int, float]:
    lat: list[float] = []
    errors = 0
    n = int(rate * duration_s)
    queue: asyncio.Queue[int] = asyncio.Queue()
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    start = time.perf_counter() + 0.05

    async def conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal errors
        while True:
            i = await queue.get()
            if i < 0:
                break
            writer.write(requests[i % len(requests)])
            status = await _read_response(reader)
            lat.append(time.perf_counter() - (start + i / rate))  # from the *scheduled* time
            if status >= 400:
                errors += 1
        writer.close()

    workers = [asyncio.create_task(conn(reader, writer)) for reader, writer in streams]
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(i)
    for _ in workers:
        queue.put_nowait(-1)
    await asyncio.gather(*workers)
    return lat, errors, time.perf_counter() - start


def _proc(args: tuple[str, int, list[bytes], float, int, float, bool, mp.Queue]) -> None:  # type: ignore[type-arg]
    mode, port, requests, duration, connections, rate, wrap, out = args
    gc.freeze()  # the heap inherited at fork: never walked again
    gc.disable()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if mode == "closed":
        res = asyncio.run(_closed(port, requests, connections, duration, wrap))
    else:
        res = asyncio.run(_open(port, requests, rate, duration, connections))
    out.put(res)


def run(mode: str, port: int, requests: Sequence[bytes], duration_s: float, connections: int = 32,
        rate: float = 0.0, processes: int = 1, wrap: bool = True) -> Result:
    """Run the load from ``processes`` processes (connections and rate split between them).

    ``wrap=False`` (closed loop): each request is sent at most once; the run ends early when
    they are used up (requests that must not repeat, e.g. events whose ids would come back
    as cheap duplicates). ``Result.exhausted`` tells."""
    ctx = mp.get_context("fork")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    per_conn = max(1, connections // processes)
    procs = []
    for p in range(processes):
        reqs = list(requests[p::processes]) or list(requests)
        args = (mode, port, reqs, duration_s, per_conn, rate / processes, wrap, out)
        proc = ctx.Process(target=_proc, args=(args,))
        proc.start()
        procs.append(proc)
    lats: list[float] = []
    errors = 0
    elapsed = 0.0
    for _ in procs:
        lat, err, el = out.get()
        lats.extend(lat)
        errors += err
        elapsed = max(elapsed, el)
    for proc in procs:
        proc.join()
    exhausted = not wrap and mode == "closed" and len(lats) >= len(requests)
    return Result(np.asarray(lats), errors, elapsed, exhausted)
