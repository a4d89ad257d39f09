"""Storage limitation: audit events and kept probe photos go when they are older than their
retention (AUDIT_RETENTION_DAYS, PROBE_RETENTION_DAYS). Run by `manage.py purge_expired`."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import audit, erasure
from .models import AuditEvent


@dataclass(frozen=True)
class Purged:
    audit_events: int
    probes: int


def purge_expired() -> Purged:
    now = timezone.now()
    with transaction.atomic():
        expired = AuditEvent.objects.filter(at__lt=now - timedelta(days=settings.AUDIT_RETENTION_DAYS))
        probes = erasure.forget_probes(expired)
        events, _ = expired.delete()
        old_probes = AuditEvent.objects.filter(at__lt=now - timedelta(days=settings.PROBE_RETENTION_DAYS))
        probes += erasure.forget_probes(old_probes)
        # Recorded even when nothing expired: the log then shows that retention is enforced.
        detail = {
            "audit_events": events, "probes": probes,
            "audit_retention_days": settings.AUDIT_RETENTION_DAYS, "probe_retention_days": settings.PROBE_RETENTION_DAYS,
        }
        audit.record(audit.Action.PURGE, detail=detail)
    return Purged(events, probes)
