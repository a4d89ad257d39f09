"""Waiting for a background job (records/jobs.py) that a `manage.py db_worker` runs."""

import time

from jobs.models import Job


def wait_until_finished(job: Job, timeout: float = 240) -> Job:
    deadline = time.monotonic() + timeout
    while job.state in Job.ACTIVE:
        assert time.monotonic() < deadline, f"{job} still {job.state}"
        time.sleep(0.2)
        job.refresh_from_db()
    return job
