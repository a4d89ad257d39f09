"""django-tasks-db's `db_worker`, which first takes back the jobs of workers that died
(records/jobs.py): after a worker restart no job is left marked running by a process that is gone.
It replaces the library's command of the same name (records comes first in INSTALLED_APPS).

It also outlives a database that goes away (records/unavailable.py): the library's worker stops
at the first error that is not a lock, and scripts/serve would then stop gunicorn with it. Here it
waits for the database instead, takes back the job it was running (queued again to resume, as a
dead worker's) and goes on: the service resumes without a restart."""

import logging
import signal
import time

from django.db import connection
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from jobs.models import Job
from jobs.worker import this_worker
from records.jobs import recover_orphaned_jobs, requeue_stranded_jobs
from records.unavailable import dependency_down

logger = logging.getLogger(__name__)

# How often a worker whose database went away asks it again.
RETRY_SECONDS = 2


class Command(DatabaseWorkerCommand):
    help = "Run background jobs (re-embeds, large imports from the pages), after resuming those a dead worker left."

    def handle(self, *args, **options):
        while True:
            try:
                self.take_back_jobs()
                super().handle(*args, **options)
                return
            except Exception as error:
                dependency = dependency_down(error)
                if dependency is None:
                    raise
                logger.warning("The %s went away (%r): running jobs again once it answers", dependency, error)
            # Nothing runs while it waits: a TERM or INT may end it at once.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            self.wait_for_database()

    def take_back_jobs(self) -> None:
        for job in recover_orphaned_jobs():
            self.tell(job, "its worker had stopped")
        # This process's own job, interrupted when the database went away.
        mine = Job.objects.filter(state=Job.State.RUNNING, worker=this_worker())
        for job in recover_orphaned_jobs(mine, gone=lambda job: True, outage=True):
            self.tell(job, "interrupted by a dependency that went away")
        for job in requeue_stranded_jobs():
            self.tell(job, "its task was claimed as the database went away")

    def tell(self, job: Job, why: str) -> None:
        outcome = "queued again to resume" if job.state == Job.State.QUEUED else f"failed: {job.error}"
        self.stdout.write(f"{job}: {why}; {outcome}")

    @staticmethod
    def wait_for_database() -> None:
        while True:
            time.sleep(RETRY_SECONDS)
            connection.close()
            try:
                connection.ensure_connection()
                return
            except Exception as error:
                if dependency_down(error) is None:
                    raise
