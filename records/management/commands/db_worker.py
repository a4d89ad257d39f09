"""django-tasks-db's `db_worker`, which first takes back the jobs of workers that died
(records/jobs.py): after a worker restart no job is left marked running by a process that is gone.
It replaces the library's command of the same name (records comes first in INSTALLED_APPS)."""

from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from records.jobs import recover_orphaned_jobs
from records.models import Job


class Command(DatabaseWorkerCommand):
    help = "Run background jobs (re-embeds, large imports from the pages), after resuming those a dead worker left."

    def handle(self, *args, **options):
        for job in recover_orphaned_jobs():
            outcome = "queued again to resume" if job.state == Job.State.QUEUED else f"failed: {job.error}"
            self.stdout.write(f"{job}: its worker had stopped; {outcome}")
        super().handle(*args, **options)
