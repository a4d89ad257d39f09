"""The outbox's retention: an event whose every delivery has ended (delivered, or given up) is
deleted with its deliveries and their attempts EVENT_RETENTION_DAYS after it happened, by
`manage.py purge_expired` (audit/retention.py's `purging` signal). One still being sent is kept,
however old."""

from datetime import timedelta

from django.conf import settings
from django.dispatch import receiver

from audit.retention import Expired, Purged, purging

from .models import Delivery, Event


@receiver(purging, sender=Purged)
def purge_ended_events(sender, now, **kwargs):
    old = Event.objects.filter(created_at__lt=now - timedelta(days=settings.EVENT_RETENTION_DAYS))
    ended = old.exclude(deliveries__state=Delivery.State.PENDING)
    _, by_model = ended.delete()
    return Expired("events", by_model.get(Event._meta.label, 0), {
        "event_deliveries": by_model.get(Delivery._meta.label, 0), "event_retention_days": settings.EVENT_RETENTION_DAYS,
    })
