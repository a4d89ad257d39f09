"""The web pages. Thin: every photo goes through the use cases (`records.usecases`), the code path
of the API, and the pages show the same results the API renders."""

import base64
import io

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST
from django.views.generic import DeleteView, FormView, ListView, TemplateView
from PIL import Image

from audit import log as audit
from jobs.models import Job
from recognition.errors import FaceError

from . import jobs
from .export import export_response
from .forms import AddPhotoForm, ChangePersonForm, EnrolForm, MatchForm, VerifyForm
from .imports import PhotoBatch, StoredPhotos, store_photo
from .models import Collection, FaceImage, Person
from .usecases import matching, people, photos, verification
from .usecases.analysis import read_photo
from .usecases.errors import NotFound
from .usecases.health import gallery_summary

# The photo of a match is sent back inline (it is never stored); these are the types it can be.
DISPLAYABLE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/bmp"}
# Faces of a group photo are told apart by colour: static/css/faces.css has this many face-colour--N.
FACE_COLOURS = 8


# Who may do what (the groups that hold these permissions are in the README). Adding a photo to
# someone is enrolment, as for the API's `enrol` scope; removing one is a deletion.
CHANGE = "records.change_person"
VIEW, ENROL, MATCH, DELETE = "records.view_person", "records.add_person", "records.match_person", "records.delete_person"
# Feedback on a recognition (the inbox app's pages): confirm or correct a named face.
REVIEW = "inbox.review_unknown"
EXPORT = "records.export_person"  # broader than viewing: photos, face vectors, audit events


def requires(permission: str):
    """A function view for logged-in users with `permission`: anonymous users go to the login page,
    a logged-in user without it gets the 403 page (templates/403.html). Class-based views get the
    same from PermissionRequiredMixin."""

    def decorate(view):
        return login_required(permission_required(permission, raise_exception=True)(view))

    return decorate


def _photos(count: int) -> str:
    return f"{count} photo{pluralize(count)}"


class HomeView(LoginRequiredMixin, TemplateView):
    template_name = "records/home.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(**vars(gallery_summary()), **kwargs)


def _report(request, stored: StoredPhotos, success: str) -> None:
    messages.success(request, success)
    for note in stored.notes:
        messages.warning(request, note)


def _store_photos(form, person: Person | None = None) -> StoredPhotos:
    """Send each photo of the form through the service (records/imports.py); the first accepted
    one enrols the person unless one is given. When none is accepted the form carries the
    service's messages."""
    batch = PhotoBatch.from_form(form.cleaned_data, person)
    stored = StoredPhotos(person)
    for upload in form.cleaned_data["photos"]:
        try:
            data = read_photo(upload)
        except FaceError as exc:
            stored.refused.append(f"{upload.name}: {exc.detail}")
            continue
        try:
            store_photo(batch, stored, upload.name, data)
        except NotFound as exc:  # the person or collection deleted while the photo was analysed
            raise Http404(exc.detail)
    stored.finish()
    if not stored.count:
        for message in stored.refused:
            form.add_error("photos", message)
    return stored


def _many_photos(form) -> bool:
    return len(form.cleaned_data["photos"]) > settings.PAGES_PHOTOS_PER_REQUEST


def _queue_import(request, form, person: Person | None = None):
    """More photos than a request should analyse: a background job (records/jobs.py), and its page."""
    try:
        job = jobs.start_import(PhotoBatch.from_form(form.cleaned_data, person), form.cleaned_data["photos"])
    except FaceError as exc:  # a photo above MAX_UPLOAD_BYTES: nothing queued, nothing kept
        form.add_error("photos", exc.detail)
        return None
    who = person.name if person else form.cleaned_data["name"]
    messages.success(request, f"Queued job {job.pk}: {job.total} photos of {who} are being stored in the background.")
    return redirect("job", pk=job.pk)


class EnrolView(PermissionRequiredMixin, FormView):
    permission_required = ENROL
    template_name = "records/enrol.html"
    form_class = EnrolForm

    def get_context_data(self, **kwargs):
        return super().get_context_data(photos_per_request=settings.PAGES_PHOTOS_PER_REQUEST, **kwargs)

    def form_valid(self, form):
        if _many_photos(form):
            return _queue_import(self.request, form) or self.form_invalid(form)
        stored = _store_photos(form)
        if not stored.count:
            # Asked again with the people it looks like, and a box to enrol them anyway.
            return self.render_to_response(self.get_context_data(form=form, duplicates=_named(stored.duplicates)))
        _report(self.request, stored, f"Enrolled {stored.person.name} from {_photos(stored.count)}.")
        return redirect("person", pk=stored.person.pk)


def _named(duplicates: list[dict]) -> list[dict]:
    """Possible duplicates, kept by id and distance only (records/imports.py), with the names of
    the people still enrolled, for a page whose user may enrol (and so is asked to tell them apart)."""
    people = {str(pk): person for pk, person in Person.objects.in_bulk([d["id"] for d in duplicates]).items()}
    return [{**d, "name": people[d["id"]].name} for d in duplicates if d["id"] in people]


def _with_thumbnails(candidates) -> list[dict]:
    """Each candidate (records.usecases.matching.Candidate) with the id of its person's first photo."""
    found = Person.objects.filter(pk__in=[candidate.id for candidate in candidates]).with_photo_summary()
    first_images = {str(pk): image_id for pk, image_id in found.values_list("pk", "first_image_id")}
    return [dict(vars(candidate), image_id=first_images.get(candidate.id)) for candidate in candidates]


def _data_uri(data: bytes, content_type: str) -> str:
    kind = content_type if content_type in DISPLAYABLE_TYPES else "image/jpeg"
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _labelled(results, photo_size: tuple[int, int]) -> list[dict]:
    """Every face of a match with its number, colour and label, for drawing over the photo."""
    faces = []
    # In the photo's pixels, so the label scales with it: at least 3.5% of its longer side, so a
    # small face in a large photo (shown shrunk to the screen) still has a readable label.
    smallest = max(10, round(max(photo_size) * 0.035))
    for number, face in enumerate(results):
        x, y, width, height = face.face_box
        size = max(smallest, round(width * 0.22))
        name = face.best_match.name if face.recognized else "Unknown"
        # Above the box, or inside its top edge when the face touches the top of the photo.
        baseline = y - round(size * 0.3) if y >= size else y + size
        faces.append({
            **vars(face),
            "recognized": face.recognized,
            "number": number + 1,
            "colour": number % FACE_COLOURS,
            "label": name,
            "label_size": size,
            "label_x": x + round(size * 0.2),
            "label_y": baseline,
            # A dark background behind it, about 0.6 of the font size a character wide.
            "label_box": (x, baseline - round(size * 0.95), round((len(name) + 4) * size * 0.6), round(size * 1.25)),
        })
    return faces


def _photo_size(data: bytes) -> tuple[int, int]:
    """Width and height from the photo's header (it decoded already: matching.match)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size


class MatchView(PermissionRequiredMixin, FormView):
    """Who is in a photo. A face nobody is named for is unknown, with no candidate's name or photo:
    people below the threshold are shown only on the candidates view, which a user asks for and
    must be allowed to browse people for (MatchCandidatesView)."""

    permission_required = MATCH
    template_name = "records/match.html"
    form_class = MatchForm
    show_candidates = False

    def form_valid(self, form):
        upload = form.cleaned_data["photo"]
        try:
            data = read_photo(upload)
            collection = form.cleaned_data["collection"]
            result = matching.match(
                data,
                settings.TOP_K_MATCHES,
                form.cleaned_data["threshold"],
                may_read=self._may_read(),
                collections=[collection] if collection else None,
                all_faces=True,
            )
        except FaceError as exc:
            form.add_error("photo", exc.detail)
            return self.form_invalid(form)
        if not self.show_candidates:
            result = result.within_threshold_only()
        faces = _labelled(result.results, _photo_size(data))
        largest = faces[0]
        # The largest face's verdict: its name (not always its nearest person, who may have been
        # named on a nearer face) and the other candidates.
        best = _with_thumbnails([largest["best_match"]])[0] if largest["recognized"] else None
        candidates = _with_thumbnails(largest["top_matches"])
        threshold = result.threshold
        # Distances scale differently per model, so the steps are relative to the threshold; none
        # goes past the 1:1 threshold, which in a gallery accepts most strangers.
        looser = min(round(threshold * 1.25, 4), matching.policy().verification_threshold)
        context = self.get_context_data(
            form=form,
            result=result,
            faces=faces,
            largest=largest,
            best=best,
            others=[c for c in candidates if best is None or c["id"] != best["id"]],
            photo_src=_data_uri(data, upload.content_type),
            stricter=round(threshold * 0.8, 4),
            looser=self._allowed(looser) if looser > threshold else None,
            # Confirm / not this person for the faces named (the inbox's review permission; the
            # match kept them: match_id). "It is ..." offers only the candidates the view shows.
            may_give_feedback=bool(result.match_id) and self.request.user.has_perm(REVIEW),
        )
        return self.render_to_response(context)

    def get_context_data(self, **kwargs):
        thresholds = matching.policy()
        kwargs.setdefault("calibration", thresholds.calibration)
        kwargs.setdefault("default_threshold", thresholds.default_threshold)
        # Below-threshold candidates, and thresholds above MATCH_MAX_THRESHOLD, only for users who
        # may view people (matching.match).
        kwargs.setdefault("may_read", self._may_read())
        kwargs.setdefault("show_candidates", self.show_candidates)
        limit = thresholds.verification_threshold
        kwargs.setdefault(
            "guide", [(value, label) for value, label in thresholds.calibration.guide if value <= limit and self._allowed(value)]
        )
        return super().get_context_data(**kwargs)

    def _may_read(self) -> bool:
        return self.request.user.has_perm(VIEW)

    def _allowed(self, threshold: float) -> float | None:
        return threshold if matching.threshold_allowed(threshold, self._may_read()) else None


class MatchCandidatesView(MatchView):
    """The match with each face's nearest people, within the threshold or not: asked for with its
    own button, for users who may browse people."""

    permission_required = (MATCH, VIEW)
    show_candidates = True


class PersonListView(PermissionRequiredMixin, ListView):
    permission_required = VIEW
    template_name = "records/person_list.html"
    context_object_name = "people"
    paginate_by = 24

    def get_queryset(self):
        people = Person.objects.order_by("name", "created_at").with_photo_summary().select_related("collection")
        people = people.search(name=self.request.GET.get("q", "").strip())
        collection = self.request.GET.get("collection", "").strip()
        # An unknown name lists nobody rather than everyone: the filter asked for is the filter applied.
        return people.filter(collection__name=collection) if collection else people

    def get_context_data(self, **kwargs):
        context = super().get_context_data(
            query=self.request.GET.get("q", "").strip(),
            collection=self.request.GET.get("collection", "").strip(),
            collections=Collection.objects.values_list("name", flat=True),
            **kwargs,
        )
        shown = len(context["people"])
        audit.record_read(audit.Action.LIST, count=shown, detail={"records": shown, "page": context["page_obj"].number})
        return context


@requires(VIEW)
def person_detail(request, pk):
    """The person's photos and metadata; posting adds photos (enrolment: add_person too)."""
    person = get_object_or_404(Person, pk=pk)
    if request.method == "POST" and not request.user.has_perm(ENROL):
        raise PermissionDenied
    form = AddPhotoForm(request.POST, request.FILES) if request.method == "POST" else AddPhotoForm()
    if form.is_bound and form.is_valid():
        if _many_photos(form):
            queued = _queue_import(request, form, person)
            if queued:
                return queued
        else:
            stored = _store_photos(form, person)
            if stored.count:
                _report(request, stored, f"Added {_photos(stored.count)} to {person.name}.")
                return redirect("person", pk=person.pk)
            # Asked again, with a box to add them anyway, when a photo did not look like them.
            return _person_page(request, person, form=form, mismatched=stored.mismatched)
    return _person_page(request, person, form=form)


@requires(CHANGE)
@require_POST
def change_person(request, pk):
    """Rename the person, or move them to another collection (records.usecases.people)."""
    person = get_object_or_404(Person, pk=pk)
    form = ChangePersonForm(request.POST)
    if not form.is_valid():
        return _person_page(request, person, change_form=form)
    people.change_record(person, {"name": form.cleaned_data["name"]}, form.cleaned_data["collection"])
    messages.success(request, f"Saved: {form.cleaned_data['name']}, in {form.cleaned_data['collection'].name}.")
    return redirect("person", pk=pk)


@requires(VIEW)
@requires(MATCH)
@require_POST
def verify_person(request, pk):
    """Whether a photo shows this person (1:1, at the model's verification threshold)."""
    person = get_object_or_404(Person, pk=pk)
    form = VerifyForm(request.POST, request.FILES)
    checked = photo_src = None
    if form.is_valid():
        upload = form.cleaned_data["photo"]
        try:
            data = read_photo(upload)
            checked = verification.verify(data, person=person)
            photo_src = _data_uri(data, upload.content_type)
        except FaceError as exc:
            form.add_error("photo", exc.detail)
    return _person_page(request, person, verify_form=form, verification=checked, verified_photo=photo_src)


def _person_page(
    request, person: Person, form=None, verify_form=None, verification=None, verified_photo=None, mismatched=0,
    change_form=None,
):
    audit.record_read(audit.Action.READ, target=person.pk)
    initial = {"name": person.name, "collection": person.collection.name}
    context = {
        "change_form": change_form or ChangePersonForm(initial=initial, auto_id="change_%s"),
        "person": person,
        "mismatched": mismatched,
        "images": person.images.defer("landmarks"),
        "form": form or AddPhotoForm(),
        "verify_form": verify_form or VerifyForm(),
        "verification": verification,
        "verified_photo": verified_photo,
    }
    return render(request, "records/person_detail.html", context)


@requires(ENROL)
def job(request, pk):
    """A background import of photos from these pages: its progress, then who was enrolled and
    which photos were refused."""
    job = get_object_or_404(Job, pk=pk, kind=Job.Kind.IMPORT)
    # A job keeps people by id only (records/jobs.py): their names are looked up here.
    result = job.result or {}
    person_id = job.options.get("person") or job.options.get("so_far", {}).get("person") or result.get("person")
    person = Person.objects.filter(pk=person_id).first() if person_id else None
    return render(request, "records/job.html", {
        "job": job, "active": job.state in Job.ACTIVE, "person": person,
        "person_name": person.name if person else job.options.get("name"),
        "duplicates": _named(result.get("duplicates", [])),
    })


@requires(EXPORT)
def export(request, pk):
    """Everything held about the person, as a zip (a data subject's access request)."""
    return export_response(get_object_or_404(Person, pk=pk))


@requires(DELETE)
@require_POST
def remove_photo(request, pk, image_pk):
    image = get_object_or_404(FaceImage.objects.select_related("person"), pk=image_pk, person_id=pk)
    removed = photos.remove_photo(image)
    messages.success(request, "The photo was removed, with its face data.")
    if not removed.photos_left:
        messages.warning(
            request, f"{image.person.name} has no photos left and cannot be recognised until you add one."
        )
    return redirect("person", pk=pk)


class LogoutView(auth_views.LogoutView):
    """Django's, saying so on the login page it leads to."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are logged out.")
        return response


class PersonDeleteView(PermissionRequiredMixin, DeleteView):
    permission_required = DELETE
    model = Person
    template_name = "records/person_confirm_delete.html"
    context_object_name = "person"
    success_url = reverse_lazy("people")

    def form_valid(self, form):
        deleted = people.delete_person(self.object)  # photos, files and vectors go with the person
        messages.success(self.request, f"{deleted.name} was deleted, with their photos and face data.")
        return redirect(self.success_url)


@requires(VIEW)
def photo(request, pk):
    """A stored photo, for users who may view people only: MEDIA_ROOT is never served publicly."""
    image = get_object_or_404(FaceImage.objects.only("image", "person_id"), pk=pk)
    try:
        # No browser may keep it: facesite.middleware.NoStoreMiddleware answers no-store.
        return FileResponse(photos.open_photo(image))
    except NotFound as exc:
        raise Http404(exc.detail)


@requires(VIEW)
def face_thumbnail(request, pk):
    """The face of a stored photo, cropped square with a margin and scaled down for lists: made
    once, then served from storage (records/thumbnails.py)."""
    image = get_object_or_404(FaceImage.objects.only("image", "face_box", "person_id"), pk=pk)
    return HttpResponse(photos.face_thumbnail(image), content_type="image/jpeg")
