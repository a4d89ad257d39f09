"""records' `db_worker` (jobs of dead workers taken back first), which also gives a new task to
each pending event delivery whose worker died mid-send (events/delivery.py): a kill -9 loses no
event, and keeps the sweep that does so while it runs going. It replaces records' command (events comes first in INSTALLED_APPS)."""

from events.delivery import keep_sweeping, requeue_stranded_deliveries
from records.management.commands.db_worker import Command as RecordsWorkerCommand


class Command(RecordsWorkerCommand):
    def take_back_jobs(self) -> None:
        super().take_back_jobs()
        for delivery in requeue_stranded_deliveries():
            self.stdout.write(f"Delivery {delivery.pk} ({delivery}): its worker had stopped; queued again")
        keep_sweeping()  # and again every EVENT_SWEEP_SECONDS while workers live
