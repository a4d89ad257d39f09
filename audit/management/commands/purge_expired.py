from django.core.management.base import BaseCommand

from audit.retention import purge_expired


class Command(BaseCommand):
    help = (
        "Delete audit events older than AUDIT_RETENTION_DAYS, kept probe photos older than "
        "PROBE_RETENTION_DAYS (their events stay), and jobs and task results ended more than "
        "JOB_RETENTION_DAYS ago, unknown faces kept longer than UNKNOWN_FACE_RETENTION_DAYS, and events delivered or given up more than EVENT_RETENTION_DAYS ago. Run daily from cron; the server runs it as it starts."
    )

    def handle(self, **options):
        purged = purge_expired()
        others = "".join(f", {count} {what.replace('_', ' ')}" for what, count in purged.others.items())
        self.stdout.write(f"purged: {purged.audit_events} audit events, {purged.probes} probe photos{others}")
