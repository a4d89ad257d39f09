"""What an API key may do: its scopes (README, "Access control"; docs/api.md).

Each API operation needs one scope (the `required_scopes` of its view, access/permissions.py).
`all` grants every scope, including any added later: it is what the original contract's single
all-powerful client gets (`create_api_key NAME --scopes all`, and every key made before scopes).
"""

MATCH = "match"
READ = "read"
ENROL = "enrol"
MANAGE = "manage"
ADMIN = "admin"
REVIEW = "review"
ALL = "all"

# Scope -> what it allows, as the command's refusal and the admin list them.
SCOPES = {
    MATCH: "POST /records/match: who is in a photo; POST /verify: is this that person",
    READ: "GET /records, one record, download its photos",
    ENROL: "POST /records, add a photo to a record",
    MANAGE: "PATCH or DELETE a record or one of its photos",
    ADMIN: "the maintenance endpoints (POST /maintenance/rebuild-index, GET /maintenance/jobs/{id}), collections, webhooks, video streams",
    REVIEW: "the review inbox: unknown faces kept by matches, their clusters and crops (naming or assigning also needs enrol)",
}
CHOICES = [(ALL, "all: every scope"), *((scope, f"{scope}: {allows}") for scope, allows in SCOPES.items())]


def unknown_scopes(scopes) -> list[str]:
    return [scope for scope in scopes if scope != ALL and scope not in SCOPES]


def parse_scopes(text: str) -> list[str]:
    """'match, read' -> ['match', 'read']; ValueError naming what is not a scope."""
    scopes = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not scopes:
        raise ValueError("No scope given.")
    unknown = unknown_scopes(scopes)
    if unknown:
        raise ValueError(f"Not a scope: {', '.join(unknown)}.")
    return [ALL] if ALL in scopes else scopes


def describe() -> str:
    """The scopes, one a line, for a person choosing them."""
    width = max(map(len, [ALL, *SCOPES]))
    lines = [f"  {scope:<{width}}  {allows}" for scope, allows in SCOPES.items()]
    return "\n".join([*lines, f"  {ALL:<{width}}  every scope (the original all-powerful client)"])
