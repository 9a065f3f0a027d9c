"""The connect-time guard: every TCP connection goes to an address checked after DNS.

httpcore asks a network backend for each new connection. Ours resolves the host itself,
refuses the whole host if any answer is forbidden, and connects to the checked IP literal,
so DNS rebinding cannot slip in between a check and the connect. TLS still verifies and
sends SNI for the hostname, because httpcore runs it on the stream we return.

Every socket read, write and connect is also capped by a per-fetch deadline kept in a
ContextVar (per thread), which is what makes `total_timeout` a hard bound.
"""

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from ssl import SSLContext
from typing import Any

import httpcore
import httpx

from app.errors import UpstreamError, UpstreamTimeout
from app.fetching.limits import Network
from app.fetching.pacing import before_send
from app.fetching.policy import address_refused, forbidden_reason

Resolver = Callable[[str, int], list[str]]

_deadline: ContextVar[float | None] = ContextVar("fetch_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Bound all socket work in this thread to `seconds` from now (or an earlier outer bound)."""
    until = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(until if outer is None else min(outer, until))
    try:
        yield
    finally:
        _deadline.reset(token)


def check_deadline() -> None:
    """Raise UpstreamTimeout once the current deadline has passed."""
    until = _deadline.get()
    if until is not None and time.monotonic() >= until:
        raise UpstreamTimeout("the fetch took longer than its total time limit")


def _capped(timeout: float | None, expired: type[Exception]) -> float | None:
    until = _deadline.get()
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise expired("total fetch time exceeded")
    return left if timeout is None else min(timeout, left)


def resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host, in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class DeadlineStream(httpcore.NetworkStream):
    """A stream whose every operation ends by the current fetch's deadline, and whose writes
    pass the caller's per-host pacing first (`before_send`: is the request's turn still
    fresh?), the last step before the bytes leave."""

    def __init__(self, inner: httpcore.NetworkStream, host: str) -> None:
        self._inner = inner
        self._host = host

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            before_send(self._host)
        self._inner.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, timeout), self._host
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class SafeBackend(httpcore.NetworkBackend):
    """Connects only to resolved addresses that pass the policy."""

    def __init__(self, allowed: tuple[Network, ...] = (), resolver: Resolver = resolve) -> None:
        self._allowed = allowed
        self._resolver = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        error: Exception = UpstreamError(f"no address for {host!r}", reason="dns")
        for address in self.checked_addresses(host, port):
            wait = _capped(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._inner.connect_tcp(address, port, wait, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # try the next address, like socket.create_connection does
                continue
            return DeadlineStream(stream, host)
        raise error

    def checked_addresses(self, host: str, port: int) -> list[str]:
        """Resolve host; refuse it outright if any answer is forbidden."""
        try:
            answers = self._resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise UpstreamError(f"cannot resolve {host!r}", reason="dns") from exc
        for answer in answers:
            # All, not just the first: one public record must not launder an internal one.
            why = forbidden_reason(ipaddress.ip_address(answer), self._allowed)
            if why:
                raise address_refused(f"{host} resolves to {answer}, which", answer, why)
        return answers

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class SafeTransport(httpx.HTTPTransport):
    """httpx's own transport, with SafeBackend under its connection pool and no env proxies."""

    def __init__(
        self,
        backend: httpcore.NetworkBackend,
        limits: httpx.Limits,
        ssl_context: SSLContext | None = None,
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx 0.28 has no public way to pick httpcore's network backend (encode/httpx#3749),
        # so replace the pool it built with an equal one on ours. The check turns an httpx
        # upgrade that renames `_pool` into a loud failure instead of a silently lost guard.
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("httpx internals changed: cannot install the safe network backend")
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
