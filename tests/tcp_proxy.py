"""A loopback TCP proxy a test can cut: the database "goes away" and comes back.

`TcpProxy(("127.0.0.1", 5432))` listens on 127.0.0.1 on a port chosen by the OS and forwards
every connection to the target, one thread per direction. Two kinds of outage:

- `down()`: the listening socket closes (new connections are refused) and every open
  connection is reset, as when the database host crashed or restarted;
- `hang()`: connections are still accepted but no byte goes through, either way, as when the
  database (or the network to it) stops answering.

`up()` ends either: open connections are reset and new ones are forwarded again, on the same
port. Use it as a context manager: on exit every socket is closed and every thread joined.
"""

import contextlib
import socket
import struct
import threading
from typing import Self

_LINGER_RESET = struct.pack("ii", 1, 0)  # close() sends RST instead of FIN


class _Link:
    """One accepted connection: the client socket, the upstream one (None while hung), and a
    pump thread per direction."""

    def __init__(
        self, client: socket.socket, upstream: socket.socket | None, flowing: threading.Event
    ) -> None:
        self.sockets = [s for s in (client, upstream) if s is not None]
        self.flowing = flowing
        self.threads = []
        if upstream is not None:
            self.threads = [
                threading.Thread(target=self._pump, args=(client, upstream), daemon=True),
                threading.Thread(target=self._pump, args=(upstream, client), daemon=True),
            ]
        for thread in self.threads:
            thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()  # hung: hold the bytes until reset
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):  # one side ended: end both, so the other pump wakes
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @property
    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self.threads)

    def reset(self) -> None:
        for sock in self.sockets:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                sock.shutdown(socket.SHUT_RDWR)  # wakes a pump blocked in recv()
            except OSError:
                pass

    def close(self) -> None:
        for thread in self.threads:
            thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


class TcpProxy:
    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self.host = host
        self.port = 0
        self.accepted = 0
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._acceptor: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.up()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.down()

    def up(self) -> None:
        """Forward new connections (listening again, on the same port); reset held ones."""
        if not self._flowing.is_set():
            self._reset_links()
        if self._listener is None:
            self._listen()
        self._flowing.set()

    def down(self) -> None:
        """Refuse new connections and reset every open one."""
        if self._listener is not None and self._acceptor is not None:
            self._stop.set()
            self._acceptor.join(timeout=10)
            self._listener.close()
            self._listener = self._acceptor = None
        self._reset_links()

    def hang(self) -> None:
        """Accept connections but let nothing through, on new and open ones alike."""
        self._flowing.clear()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop.clear()
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def _reset_links(self) -> None:
        flowing = self._flowing.is_set()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.reset()
        self._flowing.set()  # lets held pumps run into the reset sockets and end
        for link in links:
            link.close()
        if not flowing:
            self._flowing.clear()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = None
            if self._flowing.is_set():
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
            self._add(_Link(client, upstream, self._flowing))

    def _add(self, link: _Link) -> None:
        with self._lock:
            self.accepted += 1
            finished = [old for old in self._links if old.done and old.threads]
            self._links = [old for old in self._links if old not in finished] + [link]
        for old in finished:
            old.close()
