"""Streams as the API and the admin make and remove them, and what a stream's URL may be: no HTTP
here.

What the API accepts (an SSRF guard, as webhooks have; access/outgoing.py):
- rtsp://, rtsps://, http:// and https:// URLs whose host resolves only to public addresses, or to
  addresses within STREAM_ALLOWED_NETWORKS (cameras are usually on a LAN: list its network). The
  runner checks again before each connection, so a name that now resolves elsewhere is refused
  then (FFmpeg resolves it once more itself, and follows an HTTP redirect: list only the cameras'
  networks). What a stream sends is only ever decoded as video and searched for faces; no byte of
  it reaches the client, whose only answer is whether it could be opened.
- file:///path of an existing file within STREAM_FILE_ROOTS (none by default).
`manage.py watch` is the operator's, at the host's shell: it reads any URL or file its user can.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction

from access.outgoing import allowed_address
from audit import log as audit
from records.models import Collection
from records.usecases.errors import NotFound

from .models import Stream

NETWORK_SCHEMES = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


class StreamRefused(ValueError):
    """A stream URL the API does not accept; the message says why."""


class NameTaken(ValueError):
    """Another stream has that name (the events' source would not tell them apart)."""


def check_url(url: str) -> None:
    """StreamRefused unless the API may have the runner open `url` (the module's docstring)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        _check_file(unquote(parts.path))
        return
    if parts.scheme not in NETWORK_SCHEMES or not parts.hostname:
        raise StreamRefused("Only rtsp://, rtsps://, http://, https:// and file:// URLs are accepted, with a host.")
    try:
        port = parts.port or NETWORK_SCHEMES[parts.scheme]
        allowed_address(parts.hostname, port, settings.STREAM_ALLOWED_NETWORKS, "STREAM_ALLOWED_NETWORKS")
    except ValueError as error:  # AddressRefused, or a port out of range
        raise StreamRefused(str(error)) from None


def _check_file(path: str) -> None:
    roots = [Path(root).resolve() for root in settings.STREAM_FILE_ROOTS]
    if not roots:
        raise StreamRefused("Video files are not accepted: no folder is listed in STREAM_FILE_ROOTS.")
    resolved = Path(os.path.realpath(path))  # links followed: a link out of the roots is out
    if not any(resolved.is_relative_to(root) for root in roots):
        raise StreamRefused("The file is not within a folder listed in STREAM_FILE_ROOTS.")
    if not resolved.is_file():
        raise StreamRefused("No such file.")


@dataclass(frozen=True)
class StreamAsked:
    url: str
    name: str
    collection: Collection  # one the caller may see
    fps: float


def create_stream(asked: StreamAsked) -> Stream:
    """StreamRefused for a URL the runner may not open, NameTaken, NotFound for a collection
    deleted meanwhile; the runner takes it within STREAM_HEARTBEAT_SECONDS."""
    check_url(asked.url)
    actor = audit.current_actor()
    try:
        with transaction.atomic():  # the unique name decides between two requests at once
            # Held against deletion: the stream's row would otherwise fail at commit on a collection
            # deleted meanwhile, and be answered as a name taken.
            if not Collection.objects.filter(pk=asked.collection.pk).held_against_delete():
                raise NotFound(f"No collection named '{asked.collection.name}': it was deleted meanwhile.")
            return Stream.objects.create(
                url=asked.url, name=asked.name, collection=asked.collection, fps=asked.fps,
                created_by=f"{actor['actor_type']}: {actor['actor']}"[:200],
            )
    except IntegrityError:
        raise NameTaken(f"A stream named '{asked.name}' exists.") from None


def delete_stream(stream: Stream) -> None:
    """Its runner stops watching it at its next heartbeat (it no longer holds it)."""
    stream.delete()
