"""Webhooks as the API and the admin make and remove them: no HTTP here."""

from dataclasses import dataclass

from audit import log as audit

from .models import Webhook
from .webhooks import checked_address, new_secret


@dataclass(frozen=True)
class NewWebhook:
    webhook: Webhook
    secret: str  # shown once, to whoever made it


def create_webhook(url: str, events: list[str], collection: str = "") -> NewWebhook:
    """Raises webhooks.AddressRefused for a URL the worker would refuse to call (SSRF guard)."""
    checked_address(url)
    actor = audit.current_actor()
    webhook = Webhook.objects.create(
        url=url, events=list(dict.fromkeys(events)), collection=collection, secret=new_secret(),
        created_by=f"{actor['actor_type']}: {actor['actor']}"[:200],
    )
    return NewWebhook(webhook, webhook.secret)
