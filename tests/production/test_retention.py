"""Retention: audit events older than AUDIT_RETENTION_DAYS and kept probe photos older than
PROBE_RETENTION_DAYS are purged by `manage.py purge_expired`, run by cron and once as the server
starts; tested with frozen time on real matches."""

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from audit.models import AuditEvent
from bench.serving import Client
from tests.keys import key_client
from tests.production.probes import as_kept

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def kept_probes(settings) -> list[bytes]:
    return [path.read_bytes() for path in Path(settings.MEDIA_ROOT, "audit").rglob("*") if path.is_file()]


def match(api, data: bytes) -> None:
    assert api.post("/records/match", {"image": SimpleUploadedFile("probe.jpg", data)}).status_code == 200


def test_probes_then_audit_events_are_purged_past_their_age(face_service, photo, settings):
    settings.AUDIT_KEEP_PROBES = True
    settings.PROBE_RETENTION_DAYS = 30
    settings.AUDIT_RETENTION_DAYS = 365
    with time_machine.travel(START, tick=False):
        api = key_client("retention")
        match(api, photo("Colin_Powell", 0))
    with time_machine.travel(START + timedelta(days=20), tick=False):
        match(api, photo("Tony_Blair", 0))

    with time_machine.travel(START + timedelta(days=29), tick=False):
        call_command("purge_expired")
    assert sorted(kept_probes(settings)) == sorted([as_kept(photo("Colin_Powell", 0)), as_kept(photo("Tony_Blair", 0))])

    with time_machine.travel(START + timedelta(days=31), tick=False):
        call_command("purge_expired")
    # The first probe photo went; its event stays, with the probe's SHA-256.
    assert kept_probes(settings) == [as_kept(photo("Tony_Blair", 0))]
    first, second = AuditEvent.objects.filter(action="match").order_by("at")
    assert not first.probe and first.probe_sha256 and second.probe
    nothing, first_probe = AuditEvent.objects.filter(action="purge").order_by("at")
    assert (nothing.detail["audit_events"], nothing.detail["probes"]) == (0, 0)
    assert (first_probe.detail["audit_events"], first_probe.detail["probes"]) == (0, 1)

    with time_machine.travel(START + timedelta(days=366), tick=False):
        call_command("purge_expired")
    # The key's creation and the first match are past a year; the second match is not, but its probe is.
    assert list(AuditEvent.objects.filter(action="match")) == [second]
    assert not AuditEvent.objects.filter(action="create_key").exists()
    assert kept_probes(settings) == []
    assert AuditEvent.objects.get(pk=second.pk).probe_sha256

    with time_machine.travel(START + timedelta(days=386), tick=False):
        call_command("purge_expired")
    assert not AuditEvent.objects.filter(action="match").exists()
    assert AuditEvent.objects.filter(action="purge").count() == 4  # every run is recorded


def test_the_server_purges_once_as_it_starts(gunicorn):
    expired = AuditEvent.objects.create(
        at=datetime.now(timezone.utc) - timedelta(days=400), actor_type="command", action="match", status=200
    )
    recent = AuditEvent.objects.create(actor_type="command", action="match", status=200)

    server = gunicorn(2)
    deadline = time.monotonic() + 60
    while AuditEvent.objects.filter(pk=expired.pk).exists() and time.monotonic() < deadline:
        time.sleep(0.5)

    assert not AuditEvent.objects.filter(pk=expired.pk).exists()
    assert AuditEvent.objects.filter(pk=recent.pk).exists()
    # A worker serves only once its post_worker_init has returned: when each has answered, a purge
    # of its own at start-up would have been recorded, however late it came.
    client = Client(server.base_url, None)
    for alone in server.each_worker_alone():
        status, *_, request_id = client.call("GET", "/health")
        assert status == 200 and server.served_by([request_id])[request_id] == alone
    [purge] = AuditEvent.objects.filter(action="purge")
    assert purge.detail["audit_events"] == 1
