from django.core.management.base import BaseCommand

from records.erasure import erase_pending


class Command(BaseCommand):
    help = (
        "Erase the files of deletes whose erasure failed after they committed (storage down), and "
        "drop their vectors from the index and its snapshot. Exits 1 while some remain."
    )

    def handle(self, **options):
        result = erase_pending()
        self.stdout.write(f"erased: {result.erased}, still pending: {result.failed}")
        if result.failed:
            raise SystemExit(1)
