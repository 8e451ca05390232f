"""Background jobs: one narrow port, two engines behind it.

Domains declare tasks next to their code (``<domain>/tasks.py``) with ``@task``; the worker
(``virtuna.worker``) imports every domain's tasks module and runs them on the configured
engine — procrastinate on PostgreSQL, an in-process adapter with the same semantics on
SQLite. Domains defer work through ``JobQueue.defer`` and never see the engine.
"""

from virtuna.jobs.port import (
    JobContext,
    JobQueue,
    PermanentFailure,
    RetryPolicy,
    TaskSpec,
    registry,
    task,
)

__all__ = [
    "JobContext",
    "JobQueue",
    "PermanentFailure",
    "RetryPolicy",
    "TaskSpec",
    "registry",
    "task",
]
