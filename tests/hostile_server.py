"""A loopback "upstream site" that misbehaves on purpose, one behaviour per path:

    /hang     reads the request and never answers (until the server stops)
    /reset    reads the request, then resets the connection (RST)
    /garbage  answers with bytes that are not HTTP, then closes
    /slow     answers a real article page once `release` is set (or after `slow_after` s)

Raw sockets rather than http.server, because the point is to break HTTP. A thread per
connection; `close()` (or leaving the `with` block) ends every one of them and joins it.
"""

import contextlib
import socket
import struct
import threading
from typing import Self

ARTICLE = (
    b"<!DOCTYPE html><html lang='en'><head><title>Harbour reopens after the storm</title>"
    b"</head><body><article><h1>Harbour reopens after the storm</h1>"
    b"<p>The harbour reopened on Tuesday after a week in which the storm kept every ship in "
    b"port and the coast guard closed the channel to all traffic.</p>"
    b"<p>Officials said repairs to the breakwater would take another month, but that ferries "
    b"and fishing boats could sail again from the morning tide.</p>"
    b"</article></body></html>"
)


class HostileServer:
    def __init__(self, slow_after: float = 30.0) -> None:
        self.slow_after = slow_after
        self.release = threading.Event()  # /slow answers once this is set
        self.requests: list[str] = []  # paths, in arrival order
        self.arrived = threading.Condition()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until `count` requests have arrived."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    def __enter__(self) -> Self:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self.release.set()
        self._acceptor.join(timeout=10)
        self._listener.close()
        with self._lock:
            clients, threads = list(self._clients), list(self._threads)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=10)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(client,))
            with self._lock:
                self._clients.append(client)
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            client.settimeout(10)
            try:
                path = _request_path(client)
            except OSError:
                return
            with self.arrived:
                self.requests.append(path)
                self.arrived.notify_all()
            with contextlib.suppress(OSError):  # the fetcher gave up first, as it should
                self._answer(client, path)

    def _answer(self, client: socket.socket, path: str) -> None:
        if path == "/hang":
            self._stop.wait()
        elif path == "/reset":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif path == "/garbage":
            client.sendall(b"\x00\x01\x02 SMTP ready?\r\n\xff\xfe garbage \r\n\r\n")
        elif path == "/slow":
            self.release.wait(self.slow_after)
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(ARTICLE)}\r\nConnection: close\r\n\r\n"
            )
            client.sendall(head.encode() + ARTICLE)
        else:
            client.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


def _request_path(client: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(4096)
        if not chunk:
            break
        data += chunk
    parts = data.split(b" ", 2)
    return parts[1].decode("latin-1") if len(parts) > 2 else ""
