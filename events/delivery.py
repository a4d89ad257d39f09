"""Delivering the outbox, in the task worker (`manage.py db_worker`), at least once.

Each delivery runs as a django-tasks task. The worker claims the delivery (its row locked, then
marked with the worker's identity), sends it outside any transaction, and settles it: delivered,
or failed with the next try WEBHOOK_RETRY_BASE_SECONDS * 2^(attempt-1) later (at most
WEBHOOK_RETRY_MAX_INTERVAL), until WEBHOOK_RETRY_SECONDS after the event it gives up. A webhook that
has failed for WEBHOOK_DISABLE_AFTER_SECONDS without a success in between is disabled, the reason
kept (the admin shows it). A worker killed mid-delivery leaves it claimed by a process that is gone:
`requeue_stranded_deliveries` gives it a new task, so the receiver gets it again (Standard Webhooks
receivers drop repeats by `webhook-id`). It runs at every worker start (events' db_worker) and, while
workers live, every EVENT_SWEEP_SECONDS as the `sweep_deliveries` task: django-tasks has no periodic
tasks, so each sweep enqueues the next one (a deferred task, `run_after`), and a worker start or a
delivery enqueues one when none is waiting (a chain broken by a worker killed mid-sweep)."""

from datetime import datetime, timedelta
from types import SimpleNamespace

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from jobs.worker import fail_task, this_worker, worker_gone

from . import mqtt, webhooks
from .models import Attempt, Delivery, Event
from .outbox import forget_names


@task()
def deliver(delivery_id: int) -> str:
    keep_sweeping()
    delivery = _claim(delivery_id)
    if delivery is None:  # delivered, given up, not yet due, or being sent by a live worker
        return "nothing to do"
    now = timezone.now()
    outcome = attempt(delivery, now)
    settle(delivery, outcome, now)
    return "delivered" if outcome.delivered else f"failed: {outcome.error}"


@task()
def sweep_deliveries() -> str:
    stranded = requeue_stranded_deliveries()
    keep_sweeping()
    return f"{len(stranded)} stranded deliveries queued again"


def keep_sweeping() -> None:
    """Enqueue the next sweep, EVENT_SWEEP_SECONDS from now, unless one is waiting. Two workers that
    both find none enqueue one each; each of those, when it runs, finds the other's successor
    waiting and enqueues none: the chains become one."""
    waiting = DBTaskResult.objects.filter(task_path=sweep_deliveries.module_path, status=TaskResultStatus.READY)
    if not waiting.exists():
        sweep_deliveries.using(run_after=timezone.now() + timedelta(seconds=settings.EVENT_SWEEP_SECONDS)).enqueue()


def attempt(delivery: Delivery, now: datetime) -> webhooks.Outcome:
    if delivery.webhook_id:
        return webhooks.send(delivery.webhook, delivery.event, now)
    started = timezone.now()
    try:
        mqtt.publish(delivery.event)
    except mqtt.NotPublished as error:
        return webhooks.Outcome(False, None, str(error)[:1000], _ms_since(started))
    return webhooks.Outcome(True, None, "", _ms_since(started))


def _ms_since(started: datetime) -> float:
    return round((timezone.now() - started).total_seconds() * 1000, 1)


def _claim(delivery_id: int) -> Delivery | None:
    with transaction.atomic():
        # Locked: two tasks of one delivery (one given after its worker was taken for dead) must
        # not both take it; the second finds it claimed, or settled, and leaves it.
        delivery = (
            Delivery.objects.select_for_update(of=("self",)).select_related("event", "webhook")
            .filter(pk=delivery_id, state=Delivery.State.PENDING, next_attempt_at__lte=timezone.now()).first()
        )
        if delivery is None or (delivery.worker and not _claimant_gone(delivery)):
            return None
        delivery.worker, delivery.claimed_at = this_worker(), timezone.now()
        delivery.save(update_fields=["worker", "claimed_at"])
    return delivery


def _claimant_gone(delivery: Delivery) -> bool:
    return worker_gone(SimpleNamespace(worker=delivery.worker, heartbeat_at=delivery.claimed_at))


def backoff(attempts: int) -> timedelta:
    seconds = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, settings.WEBHOOK_RETRY_MAX_INTERVAL))


def settle(delivery: Delivery, outcome: webhooks.Outcome, now: datetime) -> None:
    with transaction.atomic():
        delivery.attempts += 1
        delivery.worker, delivery.claimed_at = "", None
        retry_at = None
        if outcome.delivered:
            delivery.state, delivery.delivered_at, delivery.last_error = Delivery.State.DELIVERED, now, ""
        else:
            delivery.last_error = outcome.error
            retry_at = now + backoff(delivery.attempts)
            if retry_at > delivery.event.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_SECONDS):
                delivery.state, retry_at = Delivery.State.FAILED, None
            else:
                delivery.next_attempt_at = retry_at
                delivery.task_id = str(deliver.using(run_after=retry_at).enqueue(delivery.pk).id)
        delivery.save()
        Attempt.objects.create(
            delivery=delivery, at=now, status_code=outcome.status_code, error=outcome.error,
            duration_ms=outcome.duration_ms, next_retry_at=retry_at,
        )
        if delivery.webhook_id:
            _count_against(delivery.webhook_id, outcome, now)
        _forget_names_once_sent(delivery.event_id)


def _count_against(webhook_id, outcome: webhooks.Outcome, now: datetime) -> None:
    from .models import Webhook

    # Locked: deliveries to one webhook settle at once in several workers.
    webhook = Webhook.objects.select_for_update().get(pk=webhook_id)
    if outcome.delivered:
        if webhook.failing_since is not None:
            webhook.failing_since = None
            webhook.save(update_fields=["failing_since"])
        return
    webhook.failing_since = webhook.failing_since or now
    if webhook.enabled and now - webhook.failing_since >= timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS):
        webhook.enabled = False
        webhook.disabled_reason = (
            f"Disabled at {now:%Y-%m-%d %H:%M:%S} UTC: every delivery failed since "
            f"{webhook.failing_since:%Y-%m-%d %H:%M:%S} UTC; the last: {outcome.error}"
        )
        pending = webhook.deliveries.filter(state=Delivery.State.PENDING)
        events = list(pending.values_list("event_id", flat=True))
        pending.update(state=Delivery.State.FAILED, last_error="The webhook was disabled.")
        for event_id in events:
            _forget_names_once_sent(event_id)
    webhook.save(update_fields=["failing_since", "enabled", "disabled_reason"])


def _forget_names_once_sent(event_id) -> None:
    if not Delivery.objects.filter(event_id=event_id, state=Delivery.State.PENDING).exists():
        forget_names(Event.objects.filter(pk=event_id))


def requeue_stranded_deliveries() -> list[Delivery]:
    """Pending deliveries no live worker will send: claimed by a worker that is gone (killed mid-
    send), or whose task was claimed and lost (the worker died before claiming the delivery). Each
    gets a new task, due at once; a duplicate task is harmless (only one can claim the delivery)."""
    changed = []
    for delivery in Delivery.objects.filter(state=Delivery.State.PENDING):
        if delivery.worker:
            if not _claimant_gone(delivery):
                continue
        elif DBTaskResult.objects.filter(pk=delivery.task_id, status=TaskResultStatus.READY).exists():
            continue
        with transaction.atomic():
            current = Delivery.objects.select_for_update().filter(
                pk=delivery.pk, state=Delivery.State.PENDING, worker=delivery.worker, task_id=delivery.task_id
            ).first()
            if current is None:
                continue
            fail_task(current.task_id, f"The worker {current.worker or '?'} sending delivery {current.pk} stopped.")
            current.worker, current.claimed_at, current.next_attempt_at = "", None, timezone.now()
            current.task_id = str(deliver.enqueue(current.pk).id)
            current.save(update_fields=["worker", "claimed_at", "next_attempt_at", "task_id"])
        changed.append(current)
    return changed

