"""The audit log's receivers that know streams: one made or deleted, whatever makes or deletes it
(the API, the admin, a collection's deletion). A stream is a camera whose faces are searched: who
started and stopped watching which is audited. Its URL without the password (`shown_url`)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from audit import log as audit

from .models import Stream


def _described(stream: Stream) -> dict:
    return {"name": stream.name, "url": stream.shown_url, "collection": stream.collection_id}


@receiver(post_save, sender=Stream)
def stream_created(sender, instance: Stream, created, raw=False, **kwargs):
    if created and not raw:  # a change is the runner's (its lease, its counts)
        audit.record(audit.Action.CREATE_STREAM, target=instance.pk, status=201, detail=_described(instance))


@receiver(post_delete, sender=Stream)
def stream_deleted(sender, instance: Stream, **kwargs):
    audit.record(audit.Action.DELETE_STREAM, target=instance.pk, detail=_described(instance))
