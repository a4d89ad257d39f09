"""Fixtures of the events tests: a webhook receiver on a free loopback port (bench.receiver),
webhooks made as the API makes them, and the deliveries due run in this process (the worker's own
task function; the tests that need the real `db_worker` start it with tests/conftest.py's job_worker)."""

import pytest
from django.utils import timezone

from bench.receiver import Receiver
from events.delivery import deliver
from events.models import Delivery, EventType
from events.subscriptions import create_webhook
from tests.api.conftest import add_photo, api, api_key, enrol  # noqa: F401  (the API tests' fixtures)


@pytest.fixture
def receiver(settings):
    """receiver(plan=(), delay=0, location="") -> a started bench.receiver.Receiver, its loopback
    network allowed to webhooks; stopped at the end."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    started = []

    def start(**options) -> Receiver:
        started.append(Receiver(**options).__enter__())
        return started[-1]

    yield start
    for each in started:
        each.__exit__(None, None, None)


@pytest.fixture
def webhook(db):
    """webhook(url, events=every type, collection="") -> (Webhook, its secret)."""

    def make(url: str, events=tuple(EventType.values), collection: str = ""):
        made = create_webhook(url, list(events), collection)
        return made.webhook, made.secret

    return make


def deliver_due() -> int:
    """Run each pending delivery that is due, once, as the worker's task would; how many ran."""
    due = list(Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=timezone.now()).values_list("pk", flat=True))
    for pk in due:
        deliver.call(pk)
    return len(due)
