"""People and their photos in the admin console, shown as pictures.

Photos are added through the service (the person's page or the API), which finds and embeds the
face; here they are inspected, re-embedded and deleted. Deleting, one by one or in bulk, erases
files and vectors through the post_delete signal (records/signals.py). Recognition's index status
(recognition/admin.py) is registered here with its rebuild and re-embed buttons, which reach the photos.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from access.admin import ReadOnlyAdmin, choose_collections_from
from jobs.models import Job
from audit import log as audit
from recognition.admin import IndexStateAdmin
from recognition.models import IndexState

from . import jobs
from .usecases import matching, merging, people
from .usecases.collections import change_collection
from .duplicates import probable_duplicates
from .forms import MergeForm
from .maintenance import deleted_meanwhile_note, rebuild_index, reembed_images
from .person_metadata import MetadataJSONField
from .models import Collection, FaceImage, PendingErasure, Person

# Photos the "re-embed selected" action does in the request (about 40 ms each on one core).
REEMBED_IN_REQUEST = 100

admin.site.site_header = "Face identification"
admin.site.site_title = "Face identification admin"


class FacesMedia:
    css = {"all": ["css/faces.css"]}


def face_thumbnail(image_id):
    if image_id is None:
        return "—"
    url = reverse("face-thumbnail", args=[image_id])
    return format_html('<img class="face-thumb" src="{}" alt="" loading="lazy">', url)


def photo_with_face(image: FaceImage):
    return render_to_string(
        "records/_face_photo.html",
        {
            "src": reverse("photo", args=[image.pk]),
            "box": image.face_box,
            "width": image.width,
            "height": image.height,
            "size": "small",
            "alt": f"Photo of {image.person}",
        },
    )


def report_reembed_failures(model_admin, request, failures, deleted_meanwhile: int = 0):
    for failure in failures:
        model_admin.message_user(
            request, f"Photo {failure['image_id']} kept its old face data: {failure['error']}", messages.WARNING
        )
    if deleted_meanwhile:
        model_admin.message_user(request, deleted_meanwhile_note(deleted_meanwhile), messages.INFO)


class AuditedReadsAdmin:
    """The admin's lists and record pages are reads of biometric records like the API's and the
    pages': each shown page is one audited read (the photos in it are audited as they load)."""

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if request.method == "GET" and response.status_code == 200 and changelist is not None:
            shown = len(changelist.result_list)
            audit.record_read(
                audit.Action.LIST, count=shown,
                detail={"admin": self.opts.model_name, "records": shown, "page": changelist.page_num},
            )
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        shown = getattr(response, "context_data", {}).get("original")
        if request.method == "GET" and response.status_code == 200 and shown is not None:
            self.record_shown(shown)
        return response

    def record_shown(self, obj) -> None:
        raise NotImplementedError


class FaceImageInline(admin.TabularInline):
    model = FaceImage
    fields = ["photo", "detection_score", "faces_detected", "model_key", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("person", "face_vector").defer(
            "face_vector__embedding", "landmarks"
        )

    # A photo is added through the service, which finds and embeds its face.
    def has_add_permission(self, request, obj=None):
        return False

    # Its face data comes from the photo and cannot be edited.
    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Photo and face")
    def photo(self, image):
        return photo_with_face(image)


@admin.register(Person)
class PersonAdmin(AuditedReadsAdmin, admin.ModelAdmin):
    list_display = ["thumbnail", "name", "collection", "photo_count", "created_at"]
    list_display_links = ["thumbnail", "name"]
    list_filter = ["collection"]
    search_fields = ["name", "metadata"]
    fields = ["name", "collection", "metadata", "photos_page", "id", "created_at", "updated_at"]
    readonly_fields = ["photos_page", "id", "created_at", "updated_at"]
    inlines = [FaceImageInline]
    # The API's rules for metadata (records/person_metadata.py), not Django's plain JSON box.
    formfield_overrides = {models.JSONField: {"form_class": MetadataJSONField}}
    Media = FacesMedia

    change_list_template = "admin/records/person/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).with_photo_summary().select_related("collection")

    def save_model(self, request, person, form, change):
        # Through the use cases, as the API and the pages change people: a move takes the photos'
        # vectors along (records.usecases.people), in the admin's own transaction.
        changes = {field: form.cleaned_data[field] for field in ("name", "metadata")}
        if change:
            people.change_record(person, changes, person.collection)
            person.refresh_from_db()
        else:
            person.pk = people.create_person(collection=person.collection, **changes).pk
            person.refresh_from_db()

    def delete_model(self, request, person):
        people.delete_person(person)

    def delete_queryset(self, request, queryset):
        people.delete_people(queryset)

    def get_urls(self):
        duplicates = self.admin_site.admin_view(self.duplicates_view)
        merge = self.admin_site.admin_view(self.merge_view)
        return [
            path("duplicates/", duplicates, name="records_person_duplicates"),
            path("duplicates/merge/", merge, name="records_person_merge"),
            *super().get_urls(),
        ]

    def duplicates_view(self, request):
        """Pairs of records that are probably the same person (records/duplicates.py)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Possible duplicates",
            "pairs": probable_duplicates(),
            "threshold": matching.policy().default_threshold,
            "can_merge": self.has_merge_permission(request),
        }
        return TemplateResponse(request, "admin/records/person/duplicates.html", context)

    def has_merge_permission(self, request) -> bool:
        # A merge changes one record and deletes the other: Managers' rights, no new one.
        return request.user.has_perms(["records.change_person", "records.delete_person"])

    def merge_view(self, request):
        """GET: the two records and what merging does, to confirm; POST: merge (records/usecases/merging.py)."""
        if not self.has_merge_permission(request):
            raise PermissionDenied
        form = MergeForm(request.POST if request.method == "POST" else request.GET)
        if not form.is_valid():
            self.message_user(request, "Those two records cannot be merged: " + form.errors_text(), messages.ERROR)
            return redirect("admin:records_person_duplicates")
        kept, removed = form.cleaned_data["keep"], form.cleaned_data["remove"]
        if request.method == "POST":
            try:
                merge = merging.merge_people(kept.pk, removed.pk)
            except merging.MergeRefused as refused:
                self.message_user(request, refused.detail, messages.ERROR)
                return redirect("admin:records_person_duplicates")
            self.message_user(request, format_html(
                "Merged: {} photo{} moved to {}; the other record ({}) is erased.",
                merge.photos_moved, pluralize(merge.photos_moved), merge.kept.name, merge.removed_id,
            ))
            return redirect("admin:records_person_change", merge.kept.pk)
        for person in (kept, removed):
            audit.record_read(audit.Action.READ, target=person.pk, detail={"admin": "merge"})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Merge two records",
            "kept": kept,
            "removed": removed,
            "records": [(kept, "Kept"), (removed, "Merged into it, then erased")],
        }
        return TemplateResponse(request, "admin/records/person/merge.html", context)

    def record_shown(self, person):
        audit.record_read(audit.Action.READ, target=person.pk, detail={"admin": "person"})

    def view_on_site(self, person):
        return reverse("person", args=[person.pk])

    @admin.display(description="")
    def thumbnail(self, person):
        return face_thumbnail(person.first_image_id)

    @admin.display(description="Photos", ordering="photo_count")
    def photo_count(self, person):
        return person.photo_count

    @admin.display(description="Add photos")
    def photos_page(self, person):
        if person.pk is None:
            return "Save the person first, then add photos on their page."
        return format_html('<a href="{}">On {}’s page</a>', reverse("person", args=[person.pk]), person.name)


@admin.register(FaceImage)
class FaceImageAdmin(AuditedReadsAdmin, admin.ModelAdmin):
    list_display = ["thumbnail", "person", "model_key", "detection_score", "faces_detected", "created_at"]
    list_display_links = ["thumbnail", "person"]
    list_filter = [("face_vector__model_key", admin.AllValuesFieldListFilter)]
    list_select_related = ["person", "face_vector"]
    search_fields = ["person__name"]
    actions = ["reembed"]
    fields = [
        "person", "photo", "face_box", "detection_score", "faces_detected", "width", "height",
        "model_key", "vector_id", "generation", "embedding_summary", "sha256", "created_at",
    ]
    readonly_fields = fields
    Media = FacesMedia

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def record_shown(self, image):
        audit.record_read(audit.Action.READ_PHOTO, target=image.person_id, detail={"admin": "faceimage", "photo": str(image.pk)})

    def has_reembed_permission(self, request):
        return request.user.has_perm("records.change_faceimage")

    @admin.display(description="")
    def thumbnail(self, image):
        return face_thumbnail(image.pk)

    @admin.display(description="Photo and face")
    def photo(self, image):
        return photo_with_face(image)

    @admin.display(description="Model key", ordering="face_vector__model_key")
    def model_key(self, image):
        return image.model_key

    @admin.display(description="Generation")
    def generation(self, image):
        return image.face_vector.generation

    @admin.display(description="Embedding")
    def embedding_summary(self, image):
        return f"{image.vector.size} float32 values"

    @admin.action(description="Re-embed the selected photos with the active model", permissions=["reembed"])
    def reembed(self, request, queryset):
        selected = queryset.count()
        if selected > REEMBED_IN_REQUEST:
            # More would outlast the worker's timeout inside this request: every photo is
            # re-embedded as a background job from the index status page instead.
            self.message_user(
                request,
                format_html(
                    "{} photos selected: at most {} are re-embedded here. Re-embed every photo as a "
                    'background job from the <a href="{}">index status</a> page.',
                    selected, REEMBED_IN_REQUEST, reverse("admin:recognition_indexstate_changelist"),
                ),
                messages.ERROR,
            )
            return
        outcome = reembed_images(queryset)
        done = selected - len(outcome.failures) - outcome.deleted_meanwhile
        self.message_user(
            request, f"Re-embedded {done} photo{pluralize(done)} with {matching.policy().model_key}.", messages.SUCCESS
        )
        report_reembed_failures(self, request, outcome.failures, outcome.deleted_meanwhile)


@admin.register(PendingErasure)
class PendingErasureAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Files whose delete committed but whose storage failed, until a retry erases them
    (records/erasure.py); `manage.py erase_pending` retries now."""

    list_display = ["file_name", "model_key", "created_at", "attempts", "last_error"]
    fields = list_display
    readonly_fields = fields


def collection_choices():
    return [(str(pk), name) for pk, name in Collection.objects.values_list("pk", "name")]


choose_collections_from(collection_choices)  # the API key form's collections (access/admin.py)


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "record_count", "keep_unknown_faces", "created_at"]
    list_filter = ["keep_unknown_faces"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(record_count=Count("people"))

    @admin.display(description="Records", ordering="record_count")
    def record_count(self, collection):
        return collection.record_count

    def save_model(self, request, obj, form, change):
        if change and form.changed_data == ["keep_unknown_faces"]:
            # Audited, and turning it off erases the faces kept, under the lock matches keep them by.
            change_collection(obj, obj.keep_unknown_faces)
            return
        super().save_model(request, obj, form, change)

    def get_readonly_fields(self, request, obj=None):
        # Keys name the collections they are limited to, and enrolments without one look for
        # `default`: a name stays what it was created as.
        return ["name"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        # Deleting one erases its people one by one (DELETE /collections/{name}); Django's cascade
        # confirmation page is not that path.
        return False


@admin.register(IndexState)
class IndexMaintenanceAdmin(ReadOnlyAdmin, IndexStateAdmin):
    """recognition's index status, with the rebuild from the database and the re-embedding of every
    photo (a background job), which reach the photos."""

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "title": "Index status",
            "has_rebuild_permission": self.has_rebuild_permission(request),
            "active_jobs": Job.objects.active(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def has_rebuild_permission(self, request):
        return request.user.has_perm("recognition.change_indexstate")

    def get_urls(self):
        rebuild = self.admin_site.admin_view(self.rebuild_view)
        return [path("rebuild/", rebuild, name="recognition_indexstate_rebuild"), *super().get_urls()]

    @method_decorator(require_POST)
    def rebuild_view(self, request):
        if not self.has_rebuild_permission(request):
            raise PermissionDenied
        if "reembed" in request.POST:
            self.start_reembed(request)
            return redirect("admin:recognition_indexstate_changelist")
        result = rebuild_index()
        vectors = result["total_vectors"]
        self.message_user(
            request,
            f"Rebuilt the {result['model']} index: {vectors} vector{pluralize(vectors)} in {result['duration_ms']:.0f} ms.",
            messages.SUCCESS,
        )
        return redirect("admin:recognition_indexstate_changelist")

    def start_reembed(self, request):
        """Minutes of work for a large gallery: a background job (records/jobs.py), not this request."""
        try:
            job = jobs.start_reembed()
        except jobs.JobConflict as conflict:
            self.message_user(request, format_html("{} {}", conflict, job_link(conflict.job)), messages.WARNING)
            return
        self.message_user(
            request,
            format_html(
                "Queued job {} to re-embed every photo ({}) with {}, then rebuild. {}",
                job.pk, job.total, job.model_key, job_link(job),
            ),
            messages.SUCCESS,
        )


def job_link(job: Job):
    return format_html('<a href="{}">Follow it in the job list.</a>', reverse("admin:jobs_job_change", args=[job.pk]))
