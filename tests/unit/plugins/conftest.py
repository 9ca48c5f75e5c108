"""Servers that misbehave below HTTP, for the plugins' transport tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest


@pytest.fixture
def short_answer() -> Iterator[str]:
    """A URL whose server promises 100 bytes (Content-Length) and closes after 10: http.client's IncompleteRead.

    The answer's status is 200, or the number the path ends with (``.../500``)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                last = conn.recv(65536).split(b" ", 2)[1].rsplit(b"/", 1)[-1]
                status = last if last.isdigit() else b"200"
                head = b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                conn.sendall(b"HTTP/1.1 " + status + b" X\r\n" + head + b'{"status":')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/health"
    stop.set()
    thread.join()
    listener.close()
