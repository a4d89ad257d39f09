from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from access import scopes
from access.client_address import parse_network
from access.models import ScopedAPIKey
from records.models import Collection


class Command(BaseCommand):
    help = (
        "Create a key for the REST API that may do what its scopes allow, and print it, alone, on the "
        "last line. Only its hash is stored: it cannot be shown again. Revoke it in the admin (API keys). "
        "Scopes:\n" + scopes.describe()
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who or what uses the key, e.g. 'door-camera-3' (at most 50 characters).")
        parser.add_argument(
            "--scopes",
            dest="scope_text",
            help="Comma-separated: match, read, enrol, manage, admin, or all. Required: a key gets only what "
            "it is given.",
        )
        parser.add_argument(
            "--collections",
            metavar="NAMES",
            help="Comma-separated collection names the key may match, read and enrol in; default: all of them.",
        )
        parser.add_argument("--expires-in-days", type=int, metavar="N", help="The key stops working after N days.")
        parser.add_argument(
            "--allow-from",
            metavar="NETWORKS",
            help="Comma-separated addresses or networks (e.g. 10.1.2.0/24) the key is accepted from; "
            "default: anywhere.",
        )

    def handle(self, name, scope_text=None, expires_in_days=None, allow_from=None, collections=None, **options):
        name = name.strip()
        max_length = ScopedAPIKey._meta.get_field("name").max_length
        if not name or len(name) > max_length:
            raise CommandError(f"The name must be 1 to {max_length} characters.")
        key_scopes = self.parse_scopes(scope_text)
        networks = self.parse_networks(allow_from or "")
        collection_names = self.parse_collections(collections or "")
        collection_ids = [
            Collection.default().pk if name == Collection.DEFAULT else Collection.objects.get(name=name).pk
            for name in collection_names
        ]
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be 1 or more.")
        expiry = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None

        api_key = ScopedAPIKey(
            name=name, scopes=key_scopes, allowed_networks=networks, collections=collection_ids, expiry_date=expiry
        )
        try:
            api_key.full_clean(exclude=["id", "prefix", "hashed_key"])  # the manager assigns those
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages))
        key = ScopedAPIKey.objects.assign_key(api_key)
        api_key.save()
        limits = f"scopes {', '.join(key_scopes)}"
        if networks:
            limits += f"; from {', '.join(networks)} only"
        if collection_names:
            limits += f"; collections {', '.join(collection_names)} only"
        if expiry:
            limits += f"; expires {expiry:%Y-%m-%d %H:%M} UTC"
        self.stdout.write(
            f"Created API key '{api_key.name}' (prefix {api_key.prefix}; {limits}). Store it now: it cannot "
            "be shown again. Send it as 'Authorization: Api-Key <key>' or 'X-API-Key: <key>'."
        )
        self.stdout.write(key)

    def parse_scopes(self, text: str | None) -> list[str]:
        if text is None:
            raise CommandError(
                "Say what the key may do with --scopes (comma-separated; least privilege: there is no "
                f"default):\n{scopes.describe()}"
            )
        try:
            return scopes.parse_scopes(text)
        except ValueError as exc:
            raise CommandError(f"{exc} The scopes are:\n{scopes.describe()}")

    def parse_networks(self, text: str) -> list[str]:
        try:
            return [parse_network(part) for part in text.split(",") if part.strip()]
        except ValueError as exc:
            raise CommandError(f"--allow-from: {exc}")

    def parse_collections(self, text: str) -> list[str]:
        names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
        missing = sorted(set(names) - set(Collection.objects.filter(name__in=names).values_list("name", flat=True)))
        missing = [name for name in missing if name != Collection.DEFAULT]  # made when first needed
        if missing:
            raise CommandError(f"--collections: no collection named {', '.join(missing)} (create it first).")
        return names
