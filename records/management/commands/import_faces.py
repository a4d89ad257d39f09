import csv
import hashlib
import itertools
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from recognition.errors import FaceError, NoFaceDetected
from records import audit
from records.models import FaceImage, Person

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


# Photos a process analyses together: their faces are embedded in one network run.
BATCH_SIZE = 16


def _analyse_batch(paths: list[str]) -> list[tuple]:
    """(analysis, error) of each photo. Runs in a worker process, which loads its own model."""
    from records.services import analyse_photos

    results = analyse_photos([Path(path).read_bytes() for path in paths], to_store=True)
    return [(None, result) if isinstance(result, FaceError) else (result, None) for result in results]


def _init_worker():
    import django

    django.setup()


class Command(BaseCommand):
    help = (
        "Enrol photos from DIR (one folder per person, the folder name is the name) or from a "
        "--manifest CSV of path,identity. Photos already stored (same SHA-256) are skipped, so a "
        "re-run adds nothing; a bad photo is counted and never stops the run."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?")
        parser.add_argument("--manifest", help="CSV with path,identity columns (paths relative to the CSV)")
        parser.add_argument("--limit", type=int, help="import at most this many photos")
        parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)

    def handle(self, directory=None, manifest=None, limit=None, workers=1, **options):
        items = self._collect(directory, manifest)[:limit]
        known_hashes = set(FaceImage.objects.values_list("sha256", flat=True))
        counts = Counter()
        todo = []
        for name, path in items:
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                counts["unreadable"] += 1
                continue
            if digest in known_hashes:
                counts["already stored"] += 1
                continue
            known_hashes.add(digest)
            todo.append((name, path))
        people = {p.name: p for p in Person.objects.filter(name__in={n for n, _ in todo})}
        new_people = 0
        results = self._analyse_all([str(p) for _, p in todo], workers)
        for (name, path), (analysis, error) in tqdm(
            zip(todo, results, strict=True), total=len(todo), desc="importing", disable=options["verbosity"] < 1
        ):
            if error is not None:
                counts["no face" if isinstance(error, NoFaceDetected) else "unreadable"] += 1
                continue
            if not analysis.faces:
                counts["no face"] += 1
                continue
            with transaction.atomic():
                person = people.get(name)
                if person is None:
                    person = people[name] = Person.objects.create(name=name)
                    new_people += 1
                image = FaceImage(person=person)
                image.apply_analysis(analysis)
                image.save()
            counts["enrolled"] += 1
        audit.record(audit.Action.IMPORT, detail={"people_added": new_people, **counts})
        self.stdout.write(
            f"people added: {new_people}; images enrolled: {counts['enrolled']}; "
            f"already stored: {counts['already stored']}; no face: {counts['no face']}; "
            f"unreadable: {counts['unreadable']}"
        )

    @staticmethod
    def _analyse_all(paths, workers):
        """Each photo's (analysis, error), in order, as the batches are done."""
        batches = [paths[start:start + BATCH_SIZE] for start in range(0, len(paths), BATCH_SIZE)]
        if workers <= 1 or len(batches) < 2 * workers:
            yield from itertools.chain.from_iterable(map(_analyse_batch, batches))
            return
        # The worker processes end with the last batch (each holds a model in memory).
        with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
            yield from itertools.chain.from_iterable(pool.map(_analyse_batch, batches))

    @staticmethod
    def _collect(directory, manifest):
        if manifest:
            manifest = Path(manifest)
            if not manifest.is_file():
                raise CommandError(f"No manifest at {manifest}")
            with manifest.open(newline="") as handle:
                return [(row["identity"], manifest.parent / row["path"]) for row in csv.DictReader(handle)]
        if not directory or not Path(directory).is_dir():
            raise CommandError("Give a folder of person folders, or --manifest CSV.")
        return [
            (folder.name, photo)
            for folder in sorted(Path(directory).iterdir())
            if folder.is_dir()
            for photo in sorted(folder.iterdir())
            if photo.suffix.lower() in IMAGE_SUFFIXES
        ]
