"""What an answer shows of people to a key by its scopes (docs/api.md, "What each scope discloses").

Names, ids and metadata of people the caller did not name itself are shown only to a key that may
`read` them (or, for the people a face looks like, `match`: identifying is what that scope does).
Any other key gets the same status with a text that names no one: an `enrol`-only kiosk must not
be a face-lookup oracle.
"""

from access.models import ScopedAPIKey
from access.scopes import READ


def may_see(key, scopes=(READ,)) -> bool:
    return isinstance(key, ScopedAPIKey) and any(key.has_scope(scope) for scope in scopes)


def refusal_text(exc, key) -> str:
    """A refusal's `detail`, or its text naming no one for a key that may not see whom it names."""
    return exc.detail if may_see(key, getattr(exc, "disclosed_to", (READ,))) else exc.neutral


def possible_duplicates(duplicates, key, scopes) -> list:
    """Each possible duplicate (records.usecases.enrolment.LookAlike), or only its distance for a
    key that may not see who it is."""
    if may_see(key, scopes):
        return list(duplicates)
    return [{"distance": duplicate.distance} for duplicate in duplicates]
