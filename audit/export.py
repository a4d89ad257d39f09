"""The audit events a subject access export (GDPR art. 15) gives a person: those naming them or
their photos, each as that person may see it (records/export.py writes them into the zip)."""

import json
import re

from django.db.models import Q

from .models import AuditEvent

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
OTHER = "[someone else]"


def events_naming(person_id, photo_ids: list[str]):
    """Audit events that name the person or one of their photos (the log names them by id only)."""
    person_id = str(person_id)
    return AuditEvent.objects.filter(
        Q(target__in=[person_id, *photo_ids]) | Q(detail__icontains=person_id)
    ).order_by("at", "id")


def event_as_theirs(event: AuditEvent, theirs: set[str]) -> dict:
    """The event as the person may see it: the ids of other people and their photos (a match's
    other candidates, say) are hidden, as is a probe photo that was not recognised as them
    (art. 15(4): an access request must not disclose others)."""

    return {
        "at": event.at,
        "action": event.action,
        "actor_type": event.actor_type,
        "actor": event.actor,
        "remote_addr": event.remote_addr,
        "target": hide_others(event.target, theirs),
        "status": event.status,
        "detail": json.loads(hide_others(json.dumps(event.detail), theirs)),
        "probe_sha256": event.probe_sha256 if their_probe(event, theirs) else "",
        "probe": f"probes/{event.pk}" if their_probe(event, theirs) else None,
    }


def hide_others(text: str, theirs: set[str]) -> str:
    """`text` with every id (a UUID) that is not one of `theirs` replaced by OTHER."""
    return UUID.sub(lambda found: found[0] if found[0] in theirs else OTHER, text)


def their_probe(event: AuditEvent, theirs: set[str]) -> bool:
    """A kept probe photo of a match that recognised them (erased with them, too)."""
    return bool(event.probe) and event.action == AuditEvent.Action.MATCH and event.target in theirs
