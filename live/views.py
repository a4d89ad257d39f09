"""The live page (`/live/`, permission `records.match_person`): the browser's camera sends a
downscaled frame a few times a second to `/live/frame`, which names every face in it
(records/usecases/sightings.py) and answers their boxes and names as JSON; static/js/live.js draws
them over the video and keeps each name steady by following boxes from frame to frame (in the
browser: the server keeps nothing per process, so any worker may serve any frame).

Each person shown is audited once per LIVE_REPEAT_SECONDS per user, not per frame; in door mode
each person (and unknown faces, as one) is also sent as one `face.recognized` (`face.unknown`) per
LIVE_REPEAT_SECONDS, the window kept in the database so every worker agrees."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST, require_safe

from recognition.errors import FaceError
from records.usecases import sightings
from records.usecases.analysis import read_photo
from records.usecases.errors import status_of
from records.views import MATCH, VIEW, requires

from .forms import FrameForm


@requires(MATCH)
@require_safe
def live(request):
    return render(
        request,
        "live/live.html",
        {"form": FrameForm(), "repeat_seconds": settings.LIVE_REPEAT_SECONDS, "frame_width": settings.LIVE_FRAME_WIDTH,
         "frame_interval_ms": settings.LIVE_FRAME_INTERVAL_MS},
    )


@requires(MATCH)
@require_POST
def frame(request):
    form = FrameForm(request.POST, request.FILES)
    if not form.is_valid():
        field, [message, *_] = next(iter(form.errors.items()))
        return JsonResponse({"detail": f"{field}: {message}"}, status=400)
    collection = form.cleaned_data["collection"]
    collections = [collection] if collection else None
    try:
        seen = sightings.identify(
            read_photo(form.cleaned_data["frame"]), may_read=request.user.has_perm(VIEW), collections=collections
        )
    except FaceError as refusal:
        return JsonResponse({"detail": refusal.neutral}, status=status_of(refusal))
    source = sightings.Source("user", request.user.get_username())
    reported = sightings.report_frame(
        seen, source, settings.LIVE_REPEAT_SECONDS, announce=form.cleaned_data["door"], collections=collections
    )
    announced = {id(face) for face in reported.announced}
    return JsonResponse(
        {
            "faces": [
                {
                    "box": face.face_box,  # x, y, width, height in the frame's pixels
                    "record_id": face.best_match.id if face.best_match else None,
                    "name": face.best_match.name if face.best_match else None,
                    "distance": face.best_match.distance if face.best_match else None,
                    "announced": id(face) in announced,
                }
                for face in seen.results
            ],
            "processing_time_ms": seen.processing_time_ms,
        }
    )
