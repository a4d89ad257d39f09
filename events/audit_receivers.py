"""The audit log's receivers that know the events app's models: a webhook made or deleted,
whatever makes or deletes it (the API, the admin, a shell). A webhook is where recognitions are
sent: who pointed them where is audited as a person's erasure is. Its URL's host only, as a query
string may carry a receiver's token."""

from urllib.parse import urlsplit

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from audit import log as audit

from .models import Webhook


def _described(webhook: Webhook) -> dict:
    return {"host": urlsplit(webhook.url).hostname or "", "events": webhook.events, "collection": webhook.collection}


@receiver(post_save, sender=Webhook)
def webhook_created(sender, instance: Webhook, created, raw=False, **kwargs):
    if created and not raw:  # a change is the delivery worker's (failing, disabled) or the admin's
        audit.record(audit.Action.CREATE_WEBHOOK, target=instance.pk, status=201, detail=_described(instance))


@receiver(post_delete, sender=Webhook)
def webhook_deleted(sender, instance: Webhook, **kwargs):
    audit.record(audit.Action.DELETE_WEBHOOK, target=instance.pk, detail=_described(instance))
