"""One set of rules for `metadata`: the API, the enrol page and the admin refuse the same inputs,
each with a clear message, and store nothing. Before, the page and the admin accepted what the
API refused, and deep nesting or a NUL ended in a 500 (RecursionError; PostgreSQL's jsonb)."""

import json

import pytest
from pytest_django.asserts import assertContains

from records.models import Person

from .samples import upload

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000
REFUSED = {
    "too deep to parse": (DEEP, "nested more than 32 levels deep"),
    "too deep to store": ('{"a": %s}' % ("[" * 40 + "]" * 40), "nested more than 32 levels deep"),
    "NUL in a value": ('{"note": "a\\u0000b"}', "without NUL characters"),
    "NUL in a key": ('{"a\\u0000b": 1}', "without NUL characters"),
    "lone surrogate": ('{"note": "\\ud800"}', "without NUL characters"),
    "NaN": ('{"ratio": NaN}', "NaN is not a JSON value"),
    "over 16 KB": (json.dumps({"notes": "x" * 16_400}), "the limit is 16,384 bytes"),
    "an array": ('["a", "list"]', "not an array"),
}
CASES = sorted(REFUSED)


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("admin", password="a long test password"))
    return client


@pytest.mark.parametrize("case", CASES)
def test_the_api_refuses(api, photo, unchanged, case):
    text, message = REFUSED[case]
    with unchanged():
        response = api.post(
            "/records", {"name": "Somebody", "metadata": text, "image": upload(photo("Colin_Powell"))},
            format="multipart",
        )
    assert response.status_code == 400, response.json()
    assert response.json()["detail"].startswith("metadata: ")
    assert message.lower() in response.json()["detail"].lower()


@pytest.mark.parametrize("case", CASES)
def test_the_api_refuses_it_in_a_json_patch(api, bush, unchanged, case):
    text, message = REFUSED[case]
    body = '{"metadata": %s}' % text
    with unchanged():
        response = api.generic("PATCH", f"/records/{bush.pk}", body, content_type="application/json")
    assert response.status_code == 400, response.json()
    # DRF's JSON body parser refuses these two before the field sees them, in its own words.
    expected = {"too deep to parse": "nested too deeply", "NaN": "not JSON compliant"}.get(case, message)
    assert expected.lower() in response.json()["detail"].lower()


@pytest.mark.parametrize("case", CASES)
def test_the_enrol_page_refuses(client, member, photo, unchanged, case):
    text, message = REFUSED[case]
    client.force_login(member("Managers"))
    with unchanged():
        response = client.post(
            "/enrol/", {"name": "Somebody", "metadata": text, "photos": [upload(photo("Colin_Powell"))]}
        )
    assertContains(response, message)
    assert response.context["form"].errors["metadata"]


@pytest.mark.parametrize("case", CASES)
def test_the_admin_refuses(admin_client, bush, unchanged, case):
    text, message = REFUSED[case]
    with unchanged():
        response = admin_client.post(
            f"/admin/records/person/{bush.pk}/change/",
            {"name": "Renamed", "collection": bush.collection_id, "metadata": text,
             "images-TOTAL_FORMS": "0", "images-INITIAL_FORMS": "0"},
        )
    assertContains(response, message)
    assert Person.objects.get(pk=bush.pk).name == "George W Bush"


def test_the_admin_stores_valid_metadata_and_an_empty_box_as_an_empty_object(admin_client, bush):
    change = f"/admin/records/person/{bush.pk}/change/"
    form = {"name": "George W Bush", "collection": bush.collection_id, "images-TOTAL_FORMS": "0", "images-INITIAL_FORMS": "0"}

    assert admin_client.post(change, {**form, "metadata": '{"team": "Security"}'}).status_code == 302
    assert Person.objects.get(pk=bush.pk).metadata == {"team": "Security"}
    assert admin_client.post(change, {**form, "metadata": ""}).status_code == 302
    assert Person.objects.get(pk=bush.pk).metadata == {}
