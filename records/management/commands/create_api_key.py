from django.core.management.base import BaseCommand, CommandError
from rest_framework_api_key.models import APIKey


class Command(BaseCommand):
    help = (
        "Create a key for the REST API and print it, alone, on the last line. Only its hash is "
        "stored: it cannot be shown again. Revoke it in the admin (API keys)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who or what uses the key, e.g. 'door-camera-3' (at most 50 characters).")

    def handle(self, name, **options):
        name = name.strip()
        max_length = APIKey._meta.get_field("name").max_length
        if not name or len(name) > max_length:
            raise CommandError(f"The name must be 1 to {max_length} characters.")
        api_key, key = APIKey.objects.create_key(name=name)
        self.stdout.write(
            f"Created API key '{api_key.name}' (prefix {api_key.prefix}). Store it now: it cannot be "
            "shown again. Send it as 'Authorization: Api-Key <key>' or 'X-API-Key: <key>'."
        )
        self.stdout.write(key)
