from django.core.management.base import BaseCommand, CommandError

from records.backup import BackupError, backup


class Command(BaseCommand):
    help = (
        "Write a consistent backup into a new folder DEST: the database as of one instant, the "
        "stored photos it names, the secret key's file (when the key lives in DATA_DIR) and a "
        "manifest of the model keys in use. The vector index is not in it: `restore` rebuilds it. "
        "docs/deploy.md, Backup."
    )

    def add_arguments(self, parser):
        parser.add_argument("destination", metavar="DEST")

    def handle(self, destination, **options):
        try:
            done = backup(destination)
        except BackupError as error:
            raise CommandError(str(error))
        self.stdout.write(done.told("backed up", "into"))
