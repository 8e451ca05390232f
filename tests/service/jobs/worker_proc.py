"""A worker process for kill tests: the sample tasks plus the real runner, settings from env."""

from __future__ import annotations

import asyncio
import os

from tests.service.jobs import sample_tasks  # noqa: F401 - registers the test tasks
from virtuna.config import Settings
from virtuna.logging import configure_logging
from virtuna.worker.runtime import serve_worker

if __name__ == "__main__":
    settings = Settings(_env_file=None)
    configure_logging(settings)
    asyncio.run(serve_worker(settings, schedule=os.environ.get("WORKER_SCHEDULE") == "1"))
