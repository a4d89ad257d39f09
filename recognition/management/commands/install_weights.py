import shutil
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recognition.backends.deepface_backend import DETECTOR_WEIGHT_FILES, MODEL_WEIGHT_FILES, weights_folder

KNOWN_FILES = {
    **{name: ("facial_recognition", model) for model, names in MODEL_WEIGHT_FILES.items() for name in names},
    **{name: ("face_detector", detector) for detector, names in DETECTOR_WEIGHT_FILES.items() for name in names},
}


class Command(BaseCommand):
    help = (
        "Copy model weight files you already have (e.g. arcface_weights.h5, retinaface.h5) into "
        "DeepFace's weights folder under DATA_DIR, then check that each model loads from them."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")

    def handle(self, files, **options):
        folder = weights_folder(settings.DEEPFACE_HOME)
        folder.mkdir(parents=True, exist_ok=True)
        sources = [Path(f) for f in files]
        for source in sources:
            if not source.is_file():
                raise CommandError(f"{source} is not a file")
            if source.name not in KNOWN_FILES:
                raise CommandError(
                    f"{source.name} is not a weight file DeepFace looks for; known names: "
                    + ", ".join(sorted(KNOWN_FILES))
                )
        for source in sources:
            target = folder / source.name
            shutil.copyfile(source, target)
            self.stdout.write(f"copied {source} -> {target}")
        self._check_loads({KNOWN_FILES[s.name] for s in sources})

    def _check_loads(self, models):
        import os

        os.environ["DEEPFACE_HOME"] = str(settings.DEEPFACE_HOME)
        from deepface import DeepFace

        for task, name in sorted(models):
            try:
                DeepFace.build_model(task=task, model_name=name)
            except Exception as exc:
                raise CommandError(f"{name} does not load from the installed file: {exc}")
            self.stdout.write(f"{name} loads")
