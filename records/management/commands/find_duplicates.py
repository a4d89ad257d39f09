import json

from django.core.management.base import BaseCommand

from records.duplicates import probable_duplicates


class Command(BaseCommand):
    help = (
        "Pairs of records that are probably the same person (their nearest photos within the "
        "threshold), nearest first: one JSON object per line, for cleaning an imported gallery."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--threshold", type=float, default=None, help="cosine distance; default: the match threshold"
        )

    def handle(self, threshold, **options):
        pairs = probable_duplicates(threshold)
        for pair in pairs:
            self.stdout.write(json.dumps({
                "distance": pair.distance,
                "first": {"id": str(pair.first.pk), "name": pair.first.name},
                "second": {"id": str(pair.second.pk), "name": pair.second.name},
            }))
        self.stderr.write(f"{len(pairs)} pair{'s' if len(pairs) != 1 else ''} of probable duplicates.")
