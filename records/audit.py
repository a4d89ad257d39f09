"""The audit log: who enrolled, matched, deleted, created an API key or rebuilt the index, when,
what, and how it ended (`AuditEvent`, read-only in the admin).

Events are written where every interface passes: `records.services` (enrol, add a photo, match,
refused or done), `records.maintenance` (rebuild, repair), and the delete and key-creation signals
below, so the API, the pages, the admin, the commands and a shell are all recorded, and a change
and its event commit together. Who acts is the request being served (facesite.middleware puts it
here; DRF's API-key authentication puts the key on it), else the command line of the process.
"""

import contextvars
import getpass
import hashlib
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from recognition.errors import FaceError

from .client_address import client_ip
from .models import AuditEvent, FaceImage, Person, ScopedAPIKey

Action = AuditEvent.Action
_serving = contextvars.ContextVar("audit_request", default=None)


@contextmanager
def serving(request):
    """Within it, events name the actor of `request`."""
    token = _serving.set(request)
    try:
        yield
    finally:
        _serving.reset(token)


def _actor() -> dict:
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
            event.probe = ContentFile(probe, name=uuid.uuid4().hex)
    event.save()
    return event


@contextmanager
def refusals(action: str, probe: bytes | None = None):
    """A photo refused in the block (no face, not an image, ...) is recorded, then raised on."""
    try:
        yield
    except FaceError as exc:
        record(action, status=exc.status_code, detail={"reason": exc.detail}, probe=probe)
        raise


def record_match(result: dict, probe: bytes, top_k: int) -> None:
    best = result["best_match"]
    record(
        Action.MATCH,
        target=best["id"] if best else "",
        detail={
            "recognized": result["recognized"],
            "distance": best["distance"] if best else None,
            "threshold": result["threshold"],
            "top_k": top_k,
            "faces_detected": result["faces_detected"],
            "returned": [candidate["id"] for candidate in result["top_matches"]],
        },
        probe=probe,
    )


def _deletes_people(origin) -> bool:
    return isinstance(origin, Person) or (isinstance(origin, QuerySet) and origin.model is Person)


@receiver(post_delete, sender=Person)
def person_deleted(sender, instance: Person, **kwargs):
    record(Action.DELETE_PERSON, target=instance.pk)


@receiver(post_delete, sender=FaceImage)
def photo_deleted(sender, instance: FaceImage, origin=None, **kwargs):
    if _deletes_people(origin):
        return  # its person's deletion is the event
    record(Action.DELETE_PHOTO, target=instance.pk, detail={"person": str(instance.person_id)})


@receiver(post_save, sender=ScopedAPIKey)
def key_created(sender, instance: ScopedAPIKey, created, raw=False, **kwargs):
    if created and not raw:
        detail = {"name": instance.name, "scopes": instance.scopes}
        if instance.allowed_networks:
            detail["allowed_networks"] = instance.allowed_networks
        if instance.expiry_date:
            detail["expiry_date"] = instance.expiry_date.isoformat()
        record(Action.CREATE_KEY, target=instance.prefix, status=201, detail=detail)
