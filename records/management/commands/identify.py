import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from recognition.errors import FaceError
from records.api.serializers import match_body
from records.usecases.matching import match


class Command(BaseCommand):
    help = (
        "Identify the person in each photo (with --all-faces, everyone in it): one JSON object per "
        "line per image, in argument order (a photo with no face, or unreadable, still gets its line)."
    )

    def add_arguments(self, parser):
        parser.add_argument("images", nargs="+")
        parser.add_argument("--top-k", type=int, default=settings.TOP_K_MATCHES)
        parser.add_argument("--threshold", type=float, default=None, help="cosine distance; default: calibrated")
        parser.add_argument(
            "--all-faces",
            action="store_true",
            help="identify every face (up to MAX_FACES_PER_PHOTO), shaped like the faces=all match response",
        )

    def handle(self, images, top_k, threshold, all_faces, **options):
        for path in images:
            try:
                found = match(Path(path).read_bytes(), top_k=top_k, threshold=threshold, all_faces=all_faces)
                result = match_body(found)  # as the API answers it
            except (FaceError, OSError) as exc:
                detail = exc.detail if isinstance(exc, FaceError) else f"cannot read the file: {exc.strerror}"
                nobody = {"results": []} if all_faces else {"recognized": False, "best_match": None, "top_matches": []}
                result = {**nobody, "face_detected": False, "error": detail}
            self.stdout.write(json.dumps({"image": path, **result}))
