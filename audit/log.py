"""The audit log: who enrolled, matched, read, exported, changed or deleted people and photos,
created or revoked an API key or rebuilt the index, when, what, and how it ended (`AuditEvent`,
read-only in the admin).

Events are written where every interface passes: the use cases, `records.usecases` (enrol, add a
photo, match, verify, serve a photo: refused or done, from their results), `records.maintenance`
(rebuild, repair), the views that list and show people (`record_read`, which also flags bulk
reads), records' change and delete signals (records/audit_receivers.py) and the key and login
signals below, so the API, the pages, the admin, the commands and a shell are all recorded, and a
change and its event commit together. Logins, failed logins and lockouts (django-axes) come from
Django's and axes' signals, for the pages' login and the admin's alike. Who acts is the request
being served (audit/middleware.py puts it here; DRF's API-key authentication puts the key on it),
else the command line of the process.
"""

import contextvars
import getpass
import hashlib
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import Signal, receiver

from access.client_address import client_ip
from access.models import ScopedAPIKey
from recognition.errors import FaceError
from recognition.imaging import decode_image, encode_for_storage

from .models import AuditEvent

Action = AuditEvent.Action
_serving = contextvars.ContextVar("audit_request", default=None)
_on_behalf = contextvars.ContextVar("audit_on_behalf", default=None)


@contextmanager
def serving(request):
    """Within it, events name the actor of `request`."""
    token = _serving.set(request)
    try:
        yield
    finally:
        _serving.reset(token)


@contextmanager
def acting_for(actor: dict):
    """Within it, events name `actor` (one `current_actor()` gave): a background job's events are
    those of whoever asked for it, not of the worker process."""
    token = _on_behalf.set(actor)
    try:
        yield
    finally:
        _on_behalf.reset(token)


def current_actor() -> dict:
    """Who acts now, as the fields of an AuditEvent."""
    return _actor()


def _actor() -> dict:
    if _on_behalf.get() is not None:
        return dict(_on_behalf.get())
    request = _serving.get()
    if request is None:
        return {"actor_type": AuditEvent.ActorType.COMMAND, "actor": _command_line()}
    who = {"remote_addr": client_ip(request)}
    key = getattr(request, "auth", None)
    user = getattr(request, "user", None)
    if isinstance(key, ScopedAPIKey):
        return who | {"actor_type": AuditEvent.ActorType.API_KEY, "actor": f"{key.name} ({key.prefix})"}
    if user is not None and user.is_authenticated:
        return who | {"actor_type": AuditEvent.ActorType.USER, "actor": user.get_username()}
    return who | {"actor_type": AuditEvent.ActorType.ANONYMOUS, "actor": ""}


def _command_line() -> str:
    try:
        account = getpass.getuser()
    except (KeyError, OSError):  # a container's uid without a passwd entry
        account = "?"
    return f"{account}: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:2]])}"[:200]


def record(action: str, *, target="", status: int = 200, detail: dict | None = None, probe: bytes | None = None):
    event = AuditEvent(action=action, target=str(target or ""), status=status, detail=detail or {}, **_actor())
    if probe is not None:
        event.probe_sha256 = hashlib.sha256(probe).hexdigest()
        if settings.AUDIT_KEEP_PROBES:
            event.probe = _kept_probe(probe)
    event.save()  # records/audit_receivers.py drops the kept probe of a match whose person was erased meanwhile
    return event


def _kept_probe(probe: bytes) -> ContentFile | str:
    """A probe kept with its event is stored as enrolled photos are: the upright pixels and none of
    the upload's metadata (GPS, camera, XMP). One that does not decode is kept as its SHA-256 only."""
    try:
        stored = encode_for_storage(decode_image(probe))
    except FaceError:
        return ""
    return ContentFile(stored.data, name=uuid.uuid4().hex + stored.extension)


def record_read(action: str, *, target="", count: int = 1, detail: dict | None = None) -> None:
    """A read of `count` people or photos: one event, plus a `bulk_read` event when this actor goes
    past AUDIT_BULK_READ_PER_MINUTE people and photos read within the current clock minute."""
    event = record(action, target=target, detail=detail)
    limit = settings.AUDIT_BULK_READ_PER_MINUTE
    total = _count_reads(f"{event.actor_type}:{event.actor}", count)
    if total - count <= limit < total:  # crossed by this read: one flag per actor and minute
        record(Action.BULK_READ, detail={"read_this_minute": total, "limit": limit, "last_action": action})


def _count_reads(actor: str, count: int) -> int:
    """This minute's reads by `actor`, in the cache every worker shares (as the throttles are)."""
    minute = int(time.time() // 60)
    key = f"audit-reads:{hashlib.sha256(actor.encode()).hexdigest()[:32]}:{minute}"
    cache.add(key, 0, timeout=120)
    try:
        return cache.incr(key, count)
    except ValueError:  # expired between add and incr
        cache.set(key, count, timeout=120)
        return count


# Sent with the storage names of kept probe photos unlinked from their events (forget_probes),
# inside the transaction that unlinks them: the receiver that erases stored files erases them once
# it commits, retried until done (records/erasure.py).
probes_unlinked = Signal()  # names


def forget_probes(events) -> int:
    """Erase the kept probe photos of these audit events, keeping the events (and the probes'
    SHA-256). Call inside the transaction that makes the change."""
    events = events.exclude(probe="")
    names = list(events.values_list("probe", flat=True))
    if names:
        probes_unlinked.send(sender=AuditEvent, names=names)
    return events.update(probe="")


def remember_before_change(sender, instance, fields: list[str]) -> None:
    """What the row held before, to record which fields a change touched (one query per change).
    Call from a pre_save receiver; `changed_fields` answers after the save."""
    if not instance._state.adding:
        instance._audit_before = sender.objects.filter(pk=instance.pk).values(*fields).first()


def changed_fields(instance) -> list[str] | None:
    """The names of the fields `remember_before_change` saw change (never their values: the log
    names people by id only); None when it saw nothing before (a new row)."""
    before = getattr(instance, "_audit_before", None)
    if before is None:
        return None
    return [field for field, value in before.items() if getattr(instance, field) != value]


@receiver(pre_save, sender=ScopedAPIKey)
def remember_key_before_change(sender, instance, raw=False, **kwargs):
    if not raw:
        remember_before_change(sender, instance, ["revoked"])


@receiver(post_save, sender=ScopedAPIKey)
def key_revoked(sender, instance: ScopedAPIKey, created, raw=False, **kwargs):
    if instance.revoked and "revoked" in (changed_fields(instance) or []):
        record(Action.REVOKE_KEY, target=instance.prefix, detail={"name": instance.name})


@receiver(post_delete, sender=ScopedAPIKey)
def key_deleted(sender, instance: ScopedAPIKey, **kwargs):
    record(Action.REVOKE_KEY, target=instance.prefix, detail={"name": instance.name, "deleted": True})


@receiver(post_save, sender=ScopedAPIKey)
def key_created(sender, instance: ScopedAPIKey, created, raw=False, **kwargs):
    if created and not raw:
        detail = {"name": instance.name, "scopes": instance.scopes}
        if instance.allowed_networks:
            detail["allowed_networks"] = instance.allowed_networks
        if instance.collections:
            detail["collections"] = instance.collections
        if instance.expiry_date:
            detail["expiry_date"] = instance.expiry_date.isoformat()
        record(Action.CREATE_KEY, target=instance.prefix, status=201, detail=detail)


def _login_target(username) -> str:
    # What was typed as a username, which may be anything: kept to the column's width.
    return str(username or "")[: AuditEvent._meta.get_field("target").max_length]


@receiver(user_logged_in)
def logged_in(sender, request, user, **kwargs):
    record(Action.LOGIN, target=_login_target(user.get_username()), detail={"path": request.path})


@receiver(user_login_failed)
def login_failed(sender, credentials: dict, request=None, **kwargs):
    # Django has already masked the password in `credentials`; only the username is kept.
    detail = {"path": request.path} if request is not None else {}
    record(Action.LOGIN_FAILED, target=_login_target(credentials.get("username")), status=401, detail=detail)


@receiver(user_locked_out)
def locked_out(sender, request, username, ip_address, **kwargs):
    """Sent by django-axes at the failure that reaches the limit, and again for every attempt
    refused while the lock holds (settings.py, AXES_*)."""
    record(Action.LOCKOUT, target=_login_target(username), status=429, detail={"path": request.path})
