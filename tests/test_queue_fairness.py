"""Fair queueing of article fetches by host (app/jobs/fairness.py), on the real database: the
priorities a batch of fetch jobs gets, so that hosts take turns in the queue. The end-to-end
behaviour (fetch order through a worker) is tests/test_feeds.py's
test_one_hosts_backlog_takes_turns_with_other_hosts."""

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.jobs.fairness import fair_priorities
from app.repositories.queue_ranks import ROWS

TASK = "feeds:fetch"


def test_each_hosts_jobs_take_consecutive_ranks_from_where_it_left_off(db: Engine) -> None:
    with Session(db) as session, session.begin():
        first = fair_priorities(session, TASK, ["a", "a", "b", "a"])
        # the queue is empty: a second batch starts every host level, at the furthest rank
        # reached (a's next is 3), so b banks nothing for having been idle
        second = fair_priorities(session, TASK, ["b", "c", "a"])
    assert first == [0, -1, 0, -2]
    assert second == [-3, -3, -3]


def test_a_batch_naming_more_hosts_than_one_statement_takes(db: Engine) -> None:
    hosts = [f"host-{n}.example" for n in range(ROWS + 2)]
    with Session(db) as session, session.begin():
        first = fair_priorities(session, TASK, [*hosts, hosts[-1]])
        second = fair_priorities(session, TASK, [hosts[0], hosts[-1]])
    assert first == [0] * len(hosts) + [-1]
    assert second == [-2, -2]
