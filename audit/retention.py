"""Storage limitation: audit events and kept probe photos go when they are older than their
retention (AUDIT_RETENTION_DAYS, PROBE_RETENTION_DAYS), and so does what other apps keep, through
the `purging` signal (records: ended jobs with the task worker's rows, JOB_RETENTION_DAYS; the
inbox: unknown faces, UNKNOWN_FACE_RETENTION_DAYS). Run by `manage.py purge_expired`."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from . import log as audit
from .models import AuditEvent


@dataclass(frozen=True)
class Expired:
    """What one `purging` receiver purged: how many of what, and what the PURGE event says besides
    (the retention in force, say)."""

    what: str
    count: int
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Purged:
    audit_events: int
    probes: int
    others: dict = field(default_factory=dict)  # what the `purging` receivers purged: {what: how many}


# Sent inside purge_expired's transaction with `now`; each receiver purges what it keeps and answers
# an `Expired`, which the PURGE audit event and the command's output name.
purging = Signal()


def purge_expired() -> Purged:
    now = timezone.now()
    with transaction.atomic():
        expired = AuditEvent.objects.filter(at__lt=now - timedelta(days=settings.AUDIT_RETENTION_DAYS))
        probes = audit.forget_probes(expired)
        events, _ = expired.delete()
        old_probes = AuditEvent.objects.filter(at__lt=now - timedelta(days=settings.PROBE_RETENTION_DAYS))
        probes += audit.forget_probes(old_probes)
        others = [expired for _, expired in purging.send(sender=Purged, now=now)]
        # Recorded even when nothing expired: the log then shows that retention is enforced.
        detail = {
            "audit_events": events, "probes": probes,
            "audit_retention_days": settings.AUDIT_RETENTION_DAYS, "probe_retention_days": settings.PROBE_RETENTION_DAYS,
        }
        for other in others:
            detail |= {other.what: other.count, **other.detail}
        audit.record(audit.Action.PURGE, detail=detail)
    return Purged(events, probes, {other.what: other.count for other in others})
