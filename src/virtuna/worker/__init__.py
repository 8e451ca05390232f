"""The job runner's composition root: loads every domain's tasks and runs the engine.

``virtuna worker`` runs :func:`virtuna.worker.runtime.serve_worker`; the API lifespan uses
:func:`virtuna.worker.runtime.jobs_hook` to defer jobs (and, on the SQLite default, to run
the worker and scheduler in-process).
"""
