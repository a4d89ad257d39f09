"""The Inbox page (permission `inbox.review_unknown`): the suggested people as grids of face crops,
with first and last seen; name one (also needs `records.add_person`), add it to a person (also
`records.add_faceimage`), split off the faces selected, merge the clusters selected, dismiss one.
Thin: inbox/review.py does the work, as for the API."""

from functools import wraps

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from recognition.errors import FaceError
from records.models import Collection, Person
from records.usecases.errors import NotFound
from records.views import requires

from . import review
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
    people = Person.objects.filter(collection__name__in={c.collection for c in clusters}).order_by("name")[:500]
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


def _uuid(text) -> bool:
    import uuid

    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True
