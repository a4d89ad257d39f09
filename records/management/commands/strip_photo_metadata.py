from django.core.management.base import BaseCommand

from audit import log as audit
from records.models import FaceImage
from records.photo_metadata import strip_stored_metadata


class Command(BaseCommand):
    help = (
        "Store again, as the upright pixels only, every photo stored before uploads were re-encoded "
        "that still carries EXIF (GPS, camera), XMP, an ICC profile or a comment; the old files are "
        "erased. Faces and vectors are kept. Exits 1 if a photo could not be read."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only count the photos that carry metadata")

    def handle(self, dry_run, **options):
        report = strip_stored_metadata(FaceImage.objects.order_by("pk"), dry_run=dry_run)
        verb = "would store again" if dry_run else "stored again"
        self.stdout.write(f"{verb}: {len(report.stripped)}, already clean: {report.clean}, "
                          f"deleted meanwhile: {report.deleted_meanwhile}, failed: {len(report.failed)}")
        for failure in report.failed:
            self.stderr.write(f"{failure['image_id']}: {failure['error']}")
        if report.stripped and not dry_run:
            audit.record(audit.Action.REPAIR, detail={"photos_stripped_of_metadata": len(report.stripped)})
        if report.failed:
            raise SystemExit(1)
