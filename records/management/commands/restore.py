from django.core.management.base import BaseCommand, CommandError

from records.backup import BackupError, restore


class Command(BaseCommand):
    help = (
        "Restore a backup written by `manage.py backup` onto an empty host: an empty database (no "
        "tables) and an empty photo store; then rebuild the vector index from the restored vectors. "
        "docs/deploy.md, Backup."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", metavar="BACKUP")

    def handle(self, source, **options):
        try:
            done = restore(source)
        except BackupError as error:
            raise CommandError(str(error))
        self.stdout.write(done.told("restored", "from"))
