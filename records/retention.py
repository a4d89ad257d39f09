"""Storage limitation: audit events, kept probe photos, and ended jobs with the task worker's rows
go when they are older than their retention (AUDIT_RETENTION_DAYS, PROBE_RETENTION_DAYS,
JOB_RETENTION_DAYS), and so does what other apps keep (the inbox's unknown faces,
UNKNOWN_FACE_RETENTION_DAYS) through the `purging` signal. Run by `manage.py purge_expired`."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from audit.models import AuditEvent
from jobs.models import Job

from . import audit, erasure


@dataclass(frozen=True)
class Purged:
    audit_events: int
    probes: int
    jobs: int
    others: dict = field(default_factory=dict)  # what the `purging` receivers purged, by name


# Sent inside purge_expired's transaction with `now`; each receiver purges what it keeps and answers
# {what: how many}, which the PURGE audit event and the command's output name.
purging = Signal()


def purge_expired() -> Purged:
    now = timezone.now()
    with transaction.atomic():
        expired = AuditEvent.objects.filter(at__lt=now - timedelta(days=settings.AUDIT_RETENTION_DAYS))
        probes = erasure.forget_probes(expired)
        events, _ = expired.delete()
        old_probes = AuditEvent.objects.filter(at__lt=now - timedelta(days=settings.PROBE_RETENTION_DAYS))
        probes += erasure.forget_probes(old_probes)
        # An ended job keeps what it was asked and came to (ids, counts, refusals), and its task
        # rows the same; a queued or running one is never purged.
        jobs_before = now - timedelta(days=settings.JOB_RETENTION_DAYS)
        ended = list(Job.objects.exclude(state__in=Job.ACTIVE).filter(finished_at__lt=jobs_before))
        erasure.delete_jobs(ended)
        DBTaskResult.objects.filter(finished_at__lt=jobs_before).delete()
        others = {}
        for _, purged in purging.send(sender=Purged, now=now):
            others.update(purged)
        # Recorded even when nothing expired: the log then shows that retention is enforced.
        detail = {
            "audit_events": events, "probes": probes, "jobs": len(ended),
            "audit_retention_days": settings.AUDIT_RETENTION_DAYS, "probe_retention_days": settings.PROBE_RETENTION_DAYS,
            "job_retention_days": settings.JOB_RETENTION_DAYS, **others,
        }
        audit.record(audit.Action.PURGE, detail=detail)
    return Purged(events, probes, len(ended), others)
