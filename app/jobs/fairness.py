"""Fair queueing of one task's jobs by group: article fetches by host.

procrastinate runs the waiting job of highest priority first, then the oldest. A poll defers
its new entries' fetches together, and a subscription list often holds many feeds of one
publisher: in the order they were deferred, one host's hundreds of entries would come first,
and every worker thread would wait for that host's politeness (one request per
FEED_HOST_DELAY, across all workers) while the other hosts' work waited behind them.

So each job gets a rank within its group (start-time fair queueing): a batch takes its
group's next ranks, from where the group's previous batch ended or from the rank the queue
serves now if that is further on (a group that was idle banks no credit), and its priority
is minus its rank. Jobs of the same rank run oldest first, so busy hosts take turns, one job
each, whatever order their feeds were polled in.
"""

import time
from collections import Counter
from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.repositories.jobs import JobRepository
from app.repositories.queue_ranks import QueueRankRepository

MAX_RANK = 2**31 - 1  # priority is a 32-bit integer in procrastinate's table
REBASE_AT = 2**30  # an idle queue past this rank starts again from 0


def fair_priorities(session: Session, task: str, groups: Sequence[str]) -> list[int]:
    """The priority of each of a batch of `task` jobs, `groups[i]` being job i's group."""
    ranks = QueueRankRepository(session)
    waiting = JobRepository(session).top_waiting_priority(task, time.time())
    if waiting is not None:  # the rank served next: no group starts before it
        floor = max(-waiting, 0)
    else:  # nothing waits: every group starts level, at the furthest rank reached
        floor = ranks.top(task) or 0
        if floor > REBASE_AT:
            ranks.clear(task)
            floor = 0
    starts = ranks.reserve(task, Counter(groups), floor)
    taken: Counter[str] = Counter()
    priorities = []
    for group in groups:
        priorities.append(-min(starts[group] + taken[group], MAX_RANK))
        taken[group] += 1
    return priorities
