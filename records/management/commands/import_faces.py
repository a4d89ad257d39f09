import csv
import hashlib
import itertools
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recognition.errors import FaceError, NoFaceDetected, PoorQuality
from records.models import Collection, FaceImage
from records.usecases.enrolment import import_person

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


# Photos a process analyses together: their faces are embedded in one network run.
BATCH_SIZE = 16


def _analyse_batch(paths: list[str]) -> list[tuple]:
    """Each photo's analysis, or the error it gave. Runs in a worker process, which loads its own model."""
    from records.usecases.analysis import analyse_photos

    return analyse_photos([Path(path).read_bytes() for path in paths], to_store=True)


def _init_worker():
    import django

    django.setup()


class Command(BaseCommand):
    help = (
        "Enrol photos from DIR (one folder per person, the folder name is the name) or from a "
        "--manifest CSV of path,identity, into --collection. Each photo is checked as enrolment "
        "checks it (quality; people it looks like are reported); photos already stored (same "
        "SHA-256) are skipped, so a re-run adds nothing; a bad photo is counted and never stops the run."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?")
        parser.add_argument("--manifest", help="CSV with path,identity columns (paths relative to the CSV)")
        parser.add_argument("--limit", type=int, help="import at most this many photos")
        parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
        parser.add_argument(
            "--collection", default=Collection.DEFAULT,
            help="the collection to enrol into (it must exist); a name already in it gets the photos",
        )

    def handle(self, directory=None, manifest=None, limit=None, workers=1, collection=Collection.DEFAULT, **options):
        into = self._collection(collection)
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
        results = self._analyse_all([str(p) for _, p in todo], workers)
        analysed = tqdm(
            zip(todo, results, strict=True), total=len(todo), desc="importing", disable=options["verbosity"] < 1
        )
        # A person's photos at a time (a folder's are consecutive), never every analysis in memory.
        for name, photos in itertools.groupby(analysed, key=lambda done: done[0][0]):
            imported = import_person(name, [(str(path), found) for (_, path), found in photos], into)
            counts["people added"] += imported.created
            counts["enrolled"] += len(imported.imported)
            for photo in imported.imported:
                if photo.possible_duplicates:
                    counts["possible duplicates"] += 1
                    others = ", ".join(look_alike.id for look_alike in photo.possible_duplicates)
                    self.stdout.write(f"{photo.label}: enrolled; it looks like other records too: {others}")
            for photo in imported.refused:
                counts[self._refusal(photo.error)] += 1
                self.stdout.write(f"{photo.label}: not enrolled: {photo.error.neutral}")
        self.stdout.write(
            f"people added: {counts['people added']}; images enrolled: {counts['enrolled']}; "
            f"already stored: {counts['already stored']}; no face: {counts['no face']}; "
            f"unreadable: {counts['unreadable']}; poor quality: {counts['poor quality']}; "
            f"possible duplicates: {counts['possible duplicates']}"
        )

    @staticmethod
    def _refusal(error: FaceError) -> str:
        if isinstance(error, NoFaceDetected):
            return "no face"
        return "poor quality" if isinstance(error, PoorQuality) else "unreadable"

    @staticmethod
    def _collection(name: str) -> Collection:
        if name == Collection.DEFAULT:
            return Collection.default()  # made on first use, as enrolment makes it
        try:
            return Collection.objects.get(name=name)
        except Collection.DoesNotExist:
            raise CommandError(f"No collection named '{name}': create it first (POST /collections or the admin).")

    @staticmethod
    def _analyse_all(paths, workers):
        """Each photo's analysis or error, in order, as the batches are done."""
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
