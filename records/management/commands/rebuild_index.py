from django.core.management.base import BaseCommand
from tqdm import tqdm

from records.maintenance import deleted_meanwhile_note, rebuild_index
from records.models import FaceImage


class Command(BaseCommand):
    help = (
        "Rebuild the vector index from the embeddings stored in the database, or with --reembed "
        "recompute every embedding from the stored photos (after a model change). Every process "
        "reloads on its next search."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reembed", action="store_true")

    def handle(self, reembed=False, **options):
        bar = tqdm(total=FaceImage.objects.count(), desc="re-embedding", disable=not reembed)
        result = rebuild_index(reembed=reembed, progress=lambda *_: bar.update())
        bar.close()
        for failure in result["failed"]:
            self.stderr.write(f"kept the old vector of image {failure['image_id']}: {failure['error']}")
        if result["deleted_meanwhile"]:
            self.stdout.write(deleted_meanwhile_note(result["deleted_meanwhile"]))
        self.stdout.write(
            f"{result['model']}: {result['total_vectors']} vectors, rebuilt in {result['duration_ms']:.0f} ms"
        )
