"""The outbox's writers, connected to what the use cases announce (records/signals.py, the review
inbox's inbox/signals.py) and to a person's deletion, whatever path deletes them (API, pages, admin,
a collection's deletion, a shell): each runs inside the transaction of its cause."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from inbox import signals as inbox_signals
from inbox.models import UnknownCluster, UnknownFace
from records import signals
from records.models import Collection, Person

from . import outbox
from .models import Event


@receiver(signals.faces_matched)
def faces_matched(sender, result, homes, collections, source=None, **kwargs):
    outbox.faces_matched(result, homes, collections, source)


@receiver(signals.record_enrolled)
def record_enrolled(sender, person, image, **kwargs):
    outbox.record_created(person, image)


@receiver(signals.record_changed)
def record_changed(sender, person, fields, photo, **kwargs):
    outbox.record_updated(person, fields, photo=photo)


@receiver(signals.job_finished)
def job_finished(sender, job, **kwargs):
    outbox.job_finished(job)


@receiver(inbox_signals.face_kept, sender=UnknownFace)
def inbox_face_kept(sender, face, joined, how, **kwargs):
    outbox.inbox_face_kept(face, joined, how)


@receiver(inbox_signals.cluster_reviewed, sender=UnknownCluster)
def inbox_reviewed(sender, cluster_id, collection, action, person, faces, **kwargs):
    outbox.inbox_reviewed(cluster_id, collection, action, person, faces)


@receiver(post_delete, sender=Person)
def person_erased(sender, instance: Person, **kwargs):
    # Every event naming them loses the name now, delivered or not: no name outlives an erasure.
    outbox.forget_names(Event.objects.filter(person_id=instance.pk))
    collection = Collection.objects.filter(pk=instance.collection_id).values_list("name", flat=True).first() or ""
    outbox.record_deleted(instance, collection)
