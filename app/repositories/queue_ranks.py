"""Fair-queueing ranks per task and group (app/jobs/fairness.py decides what they mean)."""

from collections.abc import Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import QueueRank


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
        The group rows stay locked until the transaction ends; they are taken in one order
        (sorted), so two transactions reserving for the same groups cannot deadlock."""
        postgres = self.session.get_bind().dialect.name == "postgresql"
        insert = postgresql.insert if postgres else sqlite.insert
        higher = func.greatest if postgres else func.max  # SQLite: max() of two values
        starts: dict[str, int] = {}
        for group in sorted(counts):
            count = counts[group]
            new = insert(QueueRank).values(task=task, group_key=group, rank=floor + count)
            statement = new.on_conflict_do_update(
                index_elements=[QueueRank.task, QueueRank.group_key],
                set_={"rank": higher(QueueRank.rank, floor) + count},
            ).returning(QueueRank.rank)
            starts[group] = int(self.session.execute(statement).scalar_one()) - count
        return starts
