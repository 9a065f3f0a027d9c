"""A gate every request of the fetcher passes just before it is sent (robots.txt and each
redirect hop included), so that a caller can pace its requests per host: background jobs
keep their per-host delay with it (app/feeds/politeness.py). No gate: requests go at once."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class Gate(Protocol):
    def __call__(self, url: str) -> None:
        """Before a request to `url` is made: may wait."""

    def confirm(self, host: str) -> None:
        """As a request to `host` is written to its socket: may wait again."""


_gate: ContextVar[Gate | None] = ContextVar("request_gate", default=None)


@contextmanager
def gated(gate: Gate) -> Iterator[None]:
    """Every request this thread's fetches send inside the block passes `gate` first."""
    token = _gate.set(gate)
    try:
        yield
    finally:
        _gate.reset(token)


def before_request(url: str) -> None:
    gate = _gate.get()
    if gate is not None:
        gate(url)


def before_send(host: str) -> None:
    gate = _gate.get()
    if gate is not None:
        gate.confirm(host)
