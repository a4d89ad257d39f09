"""Forms of the web pages. They check only what the form itself asks for (a name, the metadata's
syntax, a threshold's range); every photo is judged by the use cases (`records.usecases`), like the API's."""

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.functional import lazy

from .person_metadata import parse_metadata, validate_metadata
from .models import Collection, Person

# "image/*" lets a phone offer its camera; `data-preview` asks static/js/site.js to show the chosen
# photos before they are sent.
PHOTO_ATTRS = {"accept": "image/*", "data-preview": ""}


def _photo_help() -> str:
    return f"JPEG, PNG, WebP or BMP, up to {filesizeformat(settings.MAX_UPLOAD_BYTES)}."


class PhotoField(forms.FileField):
    """An uploaded photo. Empty files pass: the service says what is wrong with any photo, so the
    pages and the API give the same message."""

    widget_class = forms.FileInput

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", lazy(_photo_help, str)())
        super().__init__(allow_empty_file=True, widget=self.widget_class(attrs=dict(PHOTO_ATTRS)), **kwargs)


class MultiplePhotoInput(forms.FileInput):
    allow_multiple_selected = True


class PhotosField(PhotoField):
    """One or more photos, as a list of uploads."""

    widget_class = MultiplePhotoInput

    def clean(self, data, initial=None):
        uploads = list(data) if isinstance(data, (list, tuple)) else [data]
        clean_one = super().clean
        # No file at all is cleaned as one missing file, so `required` still applies.
        return [clean_one(upload, initial) for upload in uploads or [None]]


class MetadataField(forms.CharField):
    """A JSON object, or one `key: value` per line (values are kept as text); either way checked
    by the API's rules (records/person_metadata.py)."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "team: Security\nbadge: 1042"})
    default_validators = [validate_metadata]

    def to_python(self, value) -> dict:
        text = super().to_python(value).strip()
        if not text:
            return {}
        if text.startswith(("{", "[")):
            return parse_metadata(text)
        return self._parse_lines(text)

    @staticmethod
    def _parse_lines(text: str) -> dict:
        metadata = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, colon, value = line.partition(":")
            key = key.strip()
            if not colon or not key:
                raise forms.ValidationError(f'Line {number} of the metadata is not "key: value": {line.strip()!r}.')
            if key in metadata:
                raise forms.ValidationError(f'The metadata key "{key}" appears more than once.')
            metadata[key] = value.strip()
        return metadata


class PageForm(forms.Form):
    """Labels stand above their fields, without Django's trailing colon."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


STRICT_LABEL = "Refuse photos showing more than one face"
STRICT_HELP = "Otherwise the largest face of a group photo is used."


def collection_field(empty_label: str, help_text: str) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        Collection.objects.all(), to_field_name="name", required=False, empty_label=empty_label, help_text=help_text
    )


class EnrolForm(PageForm):
    name = forms.CharField(max_length=Person._meta.get_field("name").max_length)
    collection = collection_field("default", "The group (a site, a customer) to enrol into; empty: default.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The empty choice is `default`: listed once, not again as a collection of its own.
        self.fields["collection"].queryset = Collection.objects.exclude(name=Collection.DEFAULT)
    metadata = MetadataField(
        required=False, help_text='Optional: one "key: value" per line, or a JSON object.'
    )
    photos = PhotosField()
    strict = forms.BooleanField(required=False, label=STRICT_LABEL, help_text=STRICT_HELP)
    allow_duplicates = forms.BooleanField(
        required=False,
        label="Enrol as a new person anyway",
        help_text="They look like someone already enrolled; tick this if they are a different person.",
    )


class AddPhotoForm(PageForm):
    photos = PhotosField()
    strict = forms.BooleanField(required=False, label=STRICT_LABEL, help_text=STRICT_HELP)
    allow_mismatch = forms.BooleanField(
        required=False,
        label="It is the same person: add the photos anyway",
        help_text="A photo whose face is not theirs at the 1:1 verification threshold is refused unless you tick this.",
    )


class MatchForm(PageForm):
    photo = PhotoField()
    collection = collection_field("Every collection", "Only people of this collection are candidates.")
    # Cosine distance runs from 0 (identical) to 2 (opposite).
    threshold = forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=2.0,
        widget=forms.NumberInput(attrs={"step": "0.001"}),
        help_text=(
            "Cosine distance at or below which a face counts as a match. Lower is stricter; "
            "leave empty for the default."
        ),
    )


class VerifyForm(PageForm):
    """A photo checked against one person (1:1), on their page beside the form adding photos."""

    photo = PhotoField(label="Photo to check")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "verify_%s")  # two photo inputs on the same page
        super().__init__(*args, **kwargs)


class ChangePersonForm(PageForm):
    """Rename a person, or move them (with their photos' vectors) to another collection."""

    name = forms.CharField(max_length=Person._meta.get_field("name").max_length)
    collection = forms.ModelChoiceField(Collection.objects.all(), to_field_name="name", empty_label=None)


class MergeForm(forms.Form):
    """Which record to keep and which to merge into it (the admin's "Possible duplicates" page)."""

    GONE = {"invalid_choice": "one of them no longer exists (deleted or merged meanwhile).",
            "required": "say which record to keep and which to merge into it."}
    keep = forms.ModelChoiceField(Person.objects.none(), widget=forms.HiddenInput, error_messages=GONE)
    remove = forms.ModelChoiceField(Person.objects.none(), widget=forms.HiddenInput, error_messages=GONE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        people = Person.objects.with_photo_summary().select_related("collection")
        self.fields["keep"].queryset = self.fields["remove"].queryset = people

    def clean(self):
        data = super().clean()
        if data.get("keep") is not None and data.get("keep") == data.get("remove"):
            raise forms.ValidationError("a record cannot be merged into itself.")
        return data

    def errors_text(self) -> str:
        return " ".join(sorted({str(error) for errors in self.errors.values() for error in errors}))
