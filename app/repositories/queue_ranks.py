"""Fair-queueing ranks per task and group (app/jobs/fairness.py decides what they mean)."""

from collections.abc import Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import QueueRank

ROWS = 5000  # groups per statement: 3 parameters each, well under either database's limit


class QueueRankRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def top(self, task: str) -> int | None:
        """The highest rank any group of the task has reached (None: no group yet)."""
        return self.session.scalar(select(func.max(QueueRank.rank)).where(QueueRank.task == task))

    def clear(self, task: str) -> None:
        self.session.execute(delete(QueueRank).where(QueueRank.task == task))

    def reserve(self, task: str, counts: Mapping[str, int], floor: int) -> dict[str, int]:
        """Reserve `counts[group]` consecutive ranks per group, each run starting at the
        group's next rank or at `floor`, whichever is higher; returns each run's first rank.
        One statement per ROWS groups (a sitemap may name thousands of hosts). The group
        rows stay locked until the transaction ends; they are taken in one order (sorted),
        so two transactions reserving for the same groups cannot deadlock."""
        postgres = self.session.get_bind().dialect.name == "postgresql"
        insert = postgresql.insert if postgres else sqlite.insert
        higher = func.greatest if postgres else func.max  # SQLite: max() of two values
        groups = sorted(counts)
        starts: dict[str, int] = {}
        for at in range(0, len(groups), ROWS):
            rows = [
                {"task": task, "group_key": group, "rank": floor + counts[group]}
                for group in groups[at : at + ROWS]
            ]
            new = insert(QueueRank).values(rows)
            statement = new.on_conflict_do_update(
                index_elements=[QueueRank.task, QueueRank.group_key],
                # excluded.rank is floor + the group's count
                set_={"rank": higher(QueueRank.rank, floor) + new.excluded.rank - floor},
            ).returning(QueueRank.group_key, QueueRank.rank)
            for group, rank in self.session.execute(statement).all():
                starts[group] = int(rank) - counts[group]
        return starts
