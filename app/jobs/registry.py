"""Every background task, declared in one place: the modules listed in TASK_MODULES.

A task is a plain function decorated with `@job_task(name)` (or `@periodic_task(name, every)`)
in one of those modules. It runs in a worker thread (or on the worker's event loop if it is
`async def`) and receives procrastinate's JobContext first, then its keyword arguments,
which must be JSON values:

    @job_task("feeds:poll", queue="feeds")
    def poll_feed(context: JobContext, feed_id: int) -> None:
        work = runtime(context)       # settings, sessions, fetcher, deferrer
        ...

Deferring one, in the transaction of the rows that call for it:
`runtime.deferrer.defer(session, "feeds:poll", {"feed_id": 1}, queueing_lock="poll:1")`.

`make_job_app` (app/jobs/engine.py) registers every declared task on a new procrastinate App,
with the retry policy below; declaring tasks here rather than on a module-level App keeps
settings out of import time and lets tests build as many apps as they like.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from procrastinate import JobContext

from app.config import Settings
from app.jobs.runtime import JobRuntime

# Modules whose import declares tasks. A new kind of background work adds its module here.
TASK_MODULES = ("app.jobs.maintenance", "app.feeds.tasks", "app.import_jobs.tasks")
DEFAULT_QUEUE = "default"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TaskSpec:
    name: str
    func: Callable[..., Any]
    queue: str = DEFAULT_QUEUE
    retry: bool = True  # retried with exponential backoff on an exception (see engine.py)
    priority: int = 0
    # Periodic tasks: the period in seconds, read from the settings when the app is built.
    every: Callable[[Settings], int] | None = None


TASKS: dict[str, TaskSpec] = {}


def job_task(
    name: str, *, queue: str = DEFAULT_QUEUE, retry: bool = True, priority: int = 0
) -> Callable[[F], F]:
    """Declare a task; `name` is what jobs name it by ("area:verb"), stable across releases."""

    def register(func: F) -> F:
        _add(TaskSpec(name, func, queue, retry, priority))
        return func

    return register


def periodic_task(
    name: str, every: Callable[[Settings], int], *, queue: str = DEFAULT_QUEUE
) -> Callable[[F], F]:
    """Declare a task that some worker runs every `every(settings)` seconds (1..60): one job
    per period whatever the number of workers (procrastinate's periodic defers). The
    function takes `timestamp: int`, the period's start."""

    def register(func: F) -> F:
        _add(TaskSpec(name, func, queue, retry=False, every=every))
        return func

    return register


def _add(spec: TaskSpec) -> None:
    known = TASKS.get(spec.name)
    if known is not None and known.func is not spec.func:
        raise ValueError(f"two tasks named {spec.name!r}")
    TASKS[spec.name] = spec


def load_tasks() -> dict[str, TaskSpec]:
    """Every declared task, by name (importing TASK_MODULES declares them)."""
    for module in TASK_MODULES:
        importlib.import_module(module)
    return TASKS


def runtime(context: JobContext) -> JobRuntime:
    """What a task works with: the worker's settings, sessions, fetcher and deferrer."""
    work: JobRuntime = context.additional_context["runtime"]
    return work
