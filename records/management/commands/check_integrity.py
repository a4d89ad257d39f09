from django.core.management.base import BaseCommand

from records.maintenance import check_integrity


class Command(BaseCommand):
    help = (
        "Compare database rows, stored photos (and the inbox's crops of unknown faces) and the vector "
        "index; --repair retries pending erasures, deletes stray files, erases unknown faces whose crop "
        "is missing and rebuilds the index. Exits 1 while a difference remains. Run it while no upload "
        "is in flight: a photo or crop being saved has its file before its row commits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true")

    def handle(self, repair=False, **options):
        report = check_integrity(repair=repair)
        for label, items in (
            ("rows whose photo file is missing", report.rows_without_file),
            *((f"{kept} whose file is missing", ids) for kept, ids in report.kept_rows_without_file.items()),
            ("stored files with no row", report.files_without_row),
            ("rows missing from the index", report.rows_without_vector),
            ("index vectors with no row", report.vectors_without_row),
            ("erasures pending (their delete committed, storage failed)", report.pending_erasures),
        ):
            self.stdout.write(f"{label}: {len(items)}")
            for item in items[:20]:
                self.stdout.write(f"  {item}")
        for line in report.repaired:
            self.stdout.write(f"repaired: {line}")
        if repair:
            report = check_integrity()
        if not report.clean:
            raise SystemExit(1)
        self.stdout.write("everything agrees")
