"""The Inbox page (permission `inbox.review_unknown`): the suggested people as grids of face crops,
with first and last seen; name one (also needs `records.add_person`), add it to a person (also
`records.add_faceimage`), split off the faces selected, merge the clusters selected, dismiss one.
The Recent recognitions page (the same permission): the faces matches named that are kept for
feedback, newest first, each confirmed or "not this person" (optionally "it is ..."), as on the
match page's result. Thin: inbox/review.py and inbox/feedback.py do the work, as for the API."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from recognition.errors import FaceError
from records.models import Collection, Person
from records.usecases.errors import NotFound
from records.views import requires

from . import feedback, review
from .models import UnknownCluster, UnknownFace

REVIEW = "inbox.review_unknown"
ENROL, ADD_PHOTO = "records.add_person", "records.add_faceimage"


def found(view):
    """What a use case finds gone is a 404, as what was already gone: a cluster named, dismissed
    or merged by someone else while this request ran, a crop whose file is missing."""

    @wraps(view)
    def answer(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.detail)

    return answer


@requires(REVIEW)
def inbox(request):
    clusters = review.clusters(Collection.objects.all())
    people = people_to_choose(Collection.objects.filter(name__in={c.collection for c in clusters}))
    return render(request, "inbox/inbox.html", {"clusters": clusters, "people": people})


@requires(REVIEW)
@found
def face_crop(request, pk):
    return FileResponse(review.open_crop(get_object_or_404(UnknownFace, pk=pk)), content_type="image/jpeg")


def _cluster(pk) -> UnknownCluster:
    return get_object_or_404(UnknownCluster, pk=pk)


def _refused(request, refusal: FaceError) -> None:
    messages.error(request, refusal.neutral)


@requires(REVIEW)
@require_POST
@found
def name_cluster(request, pk):
    if not request.user.has_perm(ENROL):
        messages.error(request, "Naming a cluster enrols a person: you may not enrol people.")
        return redirect("inbox")
    name = request.POST.get("name", "").strip()
    if not name or len(name) > 255:
        messages.error(request, "Give the person a name (1 to 255 characters).")
        return redirect("inbox")
    try:
        named = review.name(_cluster(pk), name)
    except FaceError as refusal:
        _refused(request, refusal)
        return redirect("inbox")
    messages.success(request, f"{named.person.name} was enrolled with {len(named.photos)} photo(s) from the inbox.")
    return redirect("person", pk=named.person.pk)


@requires(REVIEW)
@require_POST
@found
def assign_cluster(request, pk):
    if not request.user.has_perm(ADD_PHOTO):
        messages.error(request, "Adding faces to a person adds photos: you may not add photos.")
        return redirect("inbox")
    person = Person.objects.filter(pk=request.POST.get("person") or None).first() if _uuid(request.POST.get("person")) else None
    if person is None:
        messages.error(request, "Choose the person these faces are.")
        return redirect("inbox")
    named = review.assign(_cluster(pk), person)
    messages.success(request, f"Added {len(named.photos)} photo(s) to {person.name}; {len(named.refused)} face(s) refused.")
    return redirect("inbox")


@requires(REVIEW)
@require_POST
@found
def split_cluster(request, pk):
    try:
        review.split(_cluster(pk), [face for face in request.POST.getlist("face") if _uuid(face)])
    except FaceError as refusal:
        _refused(request, refusal)
        return redirect("inbox")
    messages.success(request, "The faces selected are a cluster of their own.")
    return redirect("inbox")


@requires(REVIEW)
@require_POST
@found
def merge_clusters(request):
    chosen = list(UnknownCluster.objects.filter(pk__in=[pk for pk in request.POST.getlist("cluster") if _uuid(pk)]))
    try:
        review.merge(chosen)
    except FaceError as refusal:
        _refused(request, refusal)
        return redirect("inbox")
    messages.success(request, f"{len(chosen)} clusters were merged.")
    return redirect("inbox")


@requires(REVIEW)
@require_POST
@found
def dismiss_cluster(request, pk):
    erased = review.dismiss(_cluster(pk))
    messages.success(request, f"Dismissed: {erased} face(s) erased.")
    return redirect("inbox")


def people_to_choose(collections) -> list[Person]:
    """Whom a reviewer may say a face is instead ("it is ..."), by name."""
    return list(Person.objects.filter(collection__in=collections).order_by("name")[:500])


@requires(REVIEW)
def recognitions(request):
    recent = feedback.recent(Collection.objects.all())
    people = people_to_choose(Collection.objects.filter(pk__in={r.person.collection_id for r in recent}))
    context = {"recognitions": recent, "people": people, "hours": settings.MATCH_FEEDBACK_HOURS}
    return render(request, "inbox/recognitions.html", context)


@requires(REVIEW)
@found
def recognition_crop(request, pk):
    face = get_object_or_404(feedback.kept_faces(Collection.objects.all()), pk=pk)
    return FileResponse(feedback.open_crop(face), content_type="image/jpeg")


@requires(REVIEW)
@require_POST
@found
def recognition_feedback(request, match_id, face):
    """Confirm (`correct=yes`) or correct (`correct=no`, optionally `person`) one named face, then
    back to the page it was given on (the match page's result, or Recent recognitions)."""
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = ""
    back = back or "inbox-recognitions"
    correct = {"yes": True, "no": False}.get(request.POST.get("correct"))
    chosen = request.POST.get("person") or ""
    record = Person.objects.filter(pk=chosen).first() if _uuid(chosen) else None
    if correct is None or (chosen and record is None) or (correct and record is not None):
        messages.error(request, "Say whether this is the person named, and if not, optionally who it is.")
        return redirect(back)
    if feedback.adds_photo(correct, record) and not request.user.has_perm(ADD_PHOTO):
        messages.error(request, "This adds the face as a photo: you may not add photos.")
        return redirect(back)
    try:
        taken = feedback.give(feedback.matched_face(match_id, face, Collection.objects.all()), correct, record)
    except FaceError as refusal:
        _refused(request, refusal)
        return redirect(back)
    messages.success(request, _said(taken))
    return redirect(back)


def _said(taken: feedback.FeedbackTaken) -> str:
    if taken.correct:
        said = f"Confirmed: {taken.named.name}."
    else:
        said = f"Not {taken.named.name}: they will not be named for this face again."
        if taken.record is not None:
            said += f" It is {taken.record.name}."
        elif taken.unknown_face_id:
            said += " The face is in the inbox."
    if taken.photo:
        said += " The face was added as their photo."
    elif taken.refused:
        said += f" Not added as a photo: {taken.refused}"
    return said


def _uuid(text) -> bool:
    import uuid

    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True
