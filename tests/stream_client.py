"""A raw-socket client for streamed imports: it sends a chunked NDJSON body and reads the
NDJSON answer at its own pace, in either order. httpx (like requests) sends the whole body
before it reads any of the answer, so it cannot show results arriving while it still sends."""

import json
import socket
from typing import Any, Self


class StreamingImport:
    def __init__(self, port: int, headers: dict[str, str] | None = None, timeout: float = 60):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        head = {
            "Host": "127.0.0.1",
            "Content-Type": "application/x-ndjson",
            "Transfer-Encoding": "chunked",
            **(headers or {}),
        }
        request = "POST /v1/imports HTTP/1.1\r\n"
        request += "".join(f"{name}: {value}\r\n" for name, value in head.items()) + "\r\n"
        self.sock.sendall(request.encode())
        self._reader = self.sock.makefile("rb")
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self._pending = b""
        self._ended = False

    def send(self, data: bytes, last: bool = False) -> None:
        """One chunk of the body; `last`: the end of the body goes in the same write."""
        end = b"0\r\n\r\n" if last else b""
        self.sock.sendall(b"%x\r\n%s\r\n%s" % (len(data), data, end))

    def end(self) -> None:
        self.sock.sendall(b"0\r\n\r\n")

    def read_line(self) -> dict[str, Any] | None:
        """The next line of the answer, decoded; None at its end. Waits at most `timeout`."""
        if self.status is None:
            self._read_head()
        while b"\n" not in self._pending:
            if self._ended or not self._read_chunk():
                self._ended = True
                if not self._pending:
                    return None
                self._pending += b"\n"  # a body that does not end with a newline
        line, self._pending = self._pending.split(b"\n", 1)
        decoded: dict[str, Any] = json.loads(line)
        return decoded

    def read_all(self) -> list[dict[str, Any]]:
        found = []
        while (line := self.read_line()) is not None:
            found.append(line)
        return found

    def _read_head(self) -> None:
        self.status = int(self._reader.readline().split()[1])
        while (line := self._reader.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if "content-length" in self.headers:  # an error answered whole, not streamed
            self._pending = self._reader.read(int(self.headers["content-length"]))
            self._ended = True

    def _read_chunk(self) -> bool:
        size = int(self._reader.readline().split(b";")[0], 16)
        data = self._reader.read(size)
        self._reader.readline()  # the CRLF after the chunk (or after the last, empty one)
        self._pending += data
        return size > 0

    def close(self) -> None:
        self._reader.close()
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
