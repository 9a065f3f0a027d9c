"""Per-host politeness in the database, so it holds across every worker on every machine.

A request to a host needs a lease: at most `concurrency` unexpired leases per host. Then each
request sent under the lease (robots.txt and redirect hops too) takes its turn: no sooner than
`delay` seconds after the previous request to that host began (`next_turn`). Leases expire on their
own (a worker killed mid-request holds its slot only until then). The host's row is locked
while the lease is decided (Postgres: FOR UPDATE; SQLite: its writers take turns).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import FetchHost, HostLease, utcnow

SLOT_RECHECK = 0.05  # seconds: when a host's slots are all taken, ask again this soon


@dataclass(frozen=True)
class Lease:
    """Granted (`lease_id`), or refused until `retry_at`."""

    lease_id: int | None
    retry_at: datetime | None = None
    turn_at: datetime | None = None  # the host's request turn, taken with the lease


class HostRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def acquire(
        self,
        host: str,
        now: datetime,
        concurrency: int,
        hold: float,
        patience: float,
        delay: float | None = None,
    ) -> Lease:
        """A lease on `host` for `hold` seconds, or the time to ask again: when all its slots
        are taken, or when its next request turn (`next_turn`) is over `patience` seconds
        away (a nearer turn is waited for by the request itself). With `delay`, a lease
        granted while the host's turn is free takes that turn too (`Lease.turn_at`), saving
        its first request a transaction of its own."""
        row = self._locked(host)
        concurrency = row.max_concurrency or concurrency
        if row.next_allowed_at is not None and row.next_allowed_at > now + timedelta(
            seconds=patience
        ):
            return Lease(None, row.next_allowed_at)
        leases = HostLease.__table__  # Core statements on the hot path: no ORM layer
        active = self.session.scalar(
            select(func.count())
            .select_from(leases)
            .where(leases.c.host == host, leases.c.expires_at > now)
        )
        if (active or 0) >= concurrency:
            soonest = self.session.scalar(
                select(func.min(HostLease.expires_at)).where(
                    HostLease.host == host, HostLease.expires_at > now
                )
            )
            self.session.execute(  # leases of workers that died: gone once expired
                delete(HostLease).where(HostLease.host == host, HostLease.expires_at <= now)
            )
            # a slot frees when a request ends, usually well before its lease expires
            return Lease(None, min(soonest or now, now + timedelta(seconds=SLOT_RECHECK)))
        lease_id = self.session.scalar(
            insert(leases)
            .values(host=host, expires_at=now + timedelta(seconds=hold))
            .returning(leases.c.id)
        )
        if delay is None or (row.next_allowed_at is not None and row.next_allowed_at > now):
            return Lease(lease_id)
        turn_at = utcnow()  # read under the row's lock, as `next_turn` does
        self._take_turn(row, turn_at, delay)
        return Lease(lease_id, turn_at=turn_at)

    def next_turn(self, host: str, clock: Callable[[], datetime], delay: float) -> datetime | None:
        """Take the host's next request turn (None: go now; the next one waits `delay`), or
        the time to ask again. The time is read once the host's row is locked: a turn is
        measured from when it is taken, not from when it was asked for."""
        row = self._locked(host)
        now = clock()
        next_allowed: datetime | None = row.next_allowed_at
        if next_allowed is not None and next_allowed > now:
            return next_allowed
        self._take_turn(row, now, delay)
        return None

    def _take_turn(self, row: Row[Any], now: datetime, delay: float) -> None:
        delay = row.min_delay if row.min_delay is not None else delay
        hosts = FetchHost.__table__  # Core statements on the hot path: no ORM synchronizing
        self.session.execute(
            update(hosts)
            .where(hosts.c.host == row.host)
            .values(next_allowed_at=now + timedelta(seconds=delay))
        )

    def release(self, lease_id: int) -> None:
        leases = HostLease.__table__
        self.session.execute(delete(leases).where(leases.c.id == lease_id))

    def set_limits(self, host: str, concurrency: int | None, delay: float | None) -> None:
        """The operator's limits for one host (None: the settings' defaults)."""
        self._locked(host)
        self.session.execute(
            update(FetchHost)
            .where(FetchHost.host == host)
            .values(max_concurrency=concurrency, min_delay=delay)
        )

    def _locked(self, host: str) -> Row[Any]:
        """The host's row (made if missing), locked until the transaction ends."""
        hosts = FetchHost.__table__  # a Core row: read fresh, no ORM identity map
        query = select(hosts).where(hosts.c.host == host).with_for_update()
        if (row := self.session.execute(query).one_or_none()) is not None:
            return row
        dialect = self.session.get_bind().dialect.name
        make = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(FetchHost)
        self.session.execute(make.values(host=host).on_conflict_do_nothing())
        return self.session.execute(query).one()
