from django.core.management.base import BaseCommand

from inbox.models import UnknownCluster
from inbox.regrouping import regroup
from records.models import Collection


class Command(BaseCommand):
    help = (
        "Re-group the unknown faces of every collection (or those named) with HDBSCAN, as the job "
        "worker does after every UNKNOWN_REGROUP_EVERY faces kept: finds merges and splits."
    )

    def add_arguments(self, parser):
        parser.add_argument("collections", nargs="*", help="collection names (default: every one with unknown faces)")

    def handle(self, collections, **options):
        found = Collection.objects.filter(name__in=collections) if collections else Collection.objects.all()
        for collection in found:
            for model_key in UnknownCluster.objects.filter(collection=collection).values_list("model_key", flat=True).distinct():
                done = regroup(collection, model_key)
                self.stdout.write(f"{collection.name} ({model_key}): {done.faces} faces, {done.moved} moved, {done.clusters} clusters")
