from django import forms

from records.forms import PageForm, PhotoField, collection_field


class FrameForm(PageForm):
    """A frame of the camera, as static/js/live.js sends it, and how to name its faces."""

    frame = PhotoField()
    collection = collection_field("Every collection", "Only people of this collection are named.")
    door = forms.BooleanField(
        required=False, label="Door mode",
        help_text="Send an event for each person seen, once per LIVE_REPEAT_SECONDS.",
    )
