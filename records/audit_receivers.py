"""The audit log's receivers that know records' models: a person or a photo deleted or changed,
whatever deletes or changes it (API, pages, admin, shell, cascades), and a kept probe photo of a
match whose person was erased while it was matched. The audit log itself is audit/log.py."""

from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from audit import log as audit
from audit.models import AuditEvent

from .models import FaceImage, Person


def _deletes_people(origin) -> bool:
    return isinstance(origin, Person) or (isinstance(origin, QuerySet) and origin.model is Person)


@receiver(post_delete, sender=Person)
def person_deleted(sender, instance: Person, **kwargs):
    audit.record(audit.Action.DELETE_PERSON, target=instance.pk)


@receiver(post_delete, sender=FaceImage)
def photo_deleted(sender, instance: FaceImage, origin=None, **kwargs):
    if _deletes_people(origin):
        return  # its person's deletion is the event
    audit.record(audit.Action.DELETE_PHOTO, target=instance.pk, detail={"person": str(instance.person_id)})


@receiver(pre_save, sender=Person)
def remember_person_before_change(sender, instance: Person, raw=False, **kwargs):
    if not raw:
        audit.remember_before_change(sender, instance, ["name", "metadata", "collection_id"])


@receiver(post_save, sender=Person)
def person_changed(sender, instance: Person, created, raw=False, **kwargs):
    if created or raw:
        return
    if changed := audit.changed_fields(instance):
        audit.record(audit.Action.UPDATE_PERSON, target=instance.pk, detail={"fields": changed})


@receiver(post_save, sender=AuditEvent)
def forget_probe_of_the_erased(sender, instance: AuditEvent, created, raw=False, **kwargs):
    if not created or raw or not instance.probe or instance.action != audit.Action.MATCH or not instance.target:
        return
    if not Person.objects.filter(pk=instance.target).exists():
        # The person it recognised was erased while it was matched: their erasure unlinked the
        # probes kept before this one (records/erasure.py, forget_kept_probes); this one goes too.
        with transaction.atomic():
            audit.forget_probes(AuditEvent.objects.filter(pk=instance.pk))
        instance.probe = ""
