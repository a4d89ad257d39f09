import os
import shutil
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recognition.backends.deepface_backend import DETECTOR_WEIGHT_FILES, MODEL_WEIGHT_FILES, weights_folder
from recognition.weights import PUBLISHED_SHA256, TRUSTED_FILE_NAME, record_trusted, sha256_of, trusted_digests

KNOWN_FILES = {
    **{name: ("facial_recognition", model) for model, names in MODEL_WEIGHT_FILES.items() for name in names},
    **{name: ("face_detector", detector) for detector, names in DETECTOR_WEIGHT_FILES.items() for name in names},
}


class Command(BaseCommand):
    help = (
        "Copy model weight files you already have (e.g. arcface_weights.h5, retinaface.h5) into "
        "DeepFace's weights folder under DATA_DIR, after checking each against its published "
        "SHA-256 (recognition/weights.py), then check that each model loads from them."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")
        parser.add_argument(
            "--trust-unknown",
            action="store_true",
            help=(
                "Install a file nobody publishes a digest for, and record its SHA-256 in "
                f"{TRUSTED_FILE_NAME} beside it, so later checks accept exactly that file."
            ),
        )

    def handle(self, files, trust_unknown, **options):
        folder = weights_folder(settings.DEEPFACE_HOME)
        folder.mkdir(parents=True, exist_ok=True)
        trusted = trusted_digests(folder)
        sources = [Path(f) for f in files]
        for source in sources:
            if not source.is_file():
                raise CommandError(f"{source} is not a file")
            if source.name not in KNOWN_FILES:
                raise CommandError(
                    f"{source.name} is not a weight file DeepFace looks for; known names: "
                    + ", ".join(sorted(KNOWN_FILES))
                )
        # Every file is checked before any is copied, so a refusal leaves the folder as it was.
        digests = {source: sha256_of(source) for source in sources}
        to_trust = [source for source in sources if self._needs_trust(source, digests[source], trusted, trust_unknown)]
        for source in sources:
            target = folder / source.name
            self._copy_verified(source, target, digests[source])
            self.stdout.write(f"copied {source} -> {target}")
            if source in to_trust:
                record_trusted(folder, source.name, digests[source])
                self.stdout.write(
                    f"trusted {source.name} sha256 {digests[source]} (recorded in {folder / TRUSTED_FILE_NAME})"
                )
        self._check_loads({KNOWN_FILES[s.name] for s in sources})

    @staticmethod
    def _needs_trust(source: Path, found: str, trusted: dict[str, str], trust_unknown: bool) -> bool:
        """Whether the file is to be installed on the operator's word; raises if it may not be."""
        published = PUBLISHED_SHA256.get(source.name)
        if published is not None:
            # A published digest is not overridden by --trust-unknown: the file is known, and wrong.
            if found != published:
                raise CommandError(f"{source} does not match its SHA-256: expected {published}, found {found}.")
            return False
        if trusted.get(source.name) == found:
            return False
        if not trust_unknown:
            before = f"; the digest trusted before is {trusted[source.name]}" if source.name in trusted else ""
            raise CommandError(
                f"{source.name} has no known SHA-256 (found {found}{before}): check the file against "
                "its source, then run again with --trust-unknown to install it and record that digest."
            )
        return True

    @staticmethod
    def _copy_verified(source: Path, target: Path, digest: str) -> None:
        """Copy under a temporary name and move into place only once the copy has the digest that
        was checked, so DeepFace never sees a half-copied or since-changed file."""
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(source, partial)
        if sha256_of(partial) != digest:
            partial.unlink()
            raise CommandError(f"{source} changed while it was copied; nothing installed for it")
        os.replace(partial, target)

    def _check_loads(self, models):
        os.environ["DEEPFACE_HOME"] = str(settings.DEEPFACE_HOME)
        from deepface import DeepFace

        for task, name in sorted(models):
            try:
                DeepFace.build_model(task=task, model_name=name)
            except Exception as exc:
                raise CommandError(f"{name} does not load from the installed file: {exc}")
            self.stdout.write(f"{name} loads")
