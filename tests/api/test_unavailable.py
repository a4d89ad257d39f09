"""A dependency that is down answers 503 with Retry-After and a detail naming it, in a view or
before any (records/unavailable.py, facesite/errors.py); tests/production/test_faults.py takes the
real ones away under load."""

import errno

import pytest
from django.db import OperationalError, connection
from django.test import Client

from records.unavailable import RETRY_AFTER_SECONDS, dependency_down

from .samples import upload


def assert_unavailable(response, dependency: str) -> None:
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.json()["unavailable"] == dependency and response.json()["detail"]


def test_a_match_while_milvus_does_not_answer_is_a_503_naming_the_vector_index(api, bush, photo, settings):
    from bench.serving import free_port

    settings.VECTOR_BACKEND = "milvus"
    settings.MILVUS_URI = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.MILVUS_TIMEOUT = 2

    assert_unavailable(api.post("/records/match", {"image": upload(photo("George_W_Bush", 1))}), "vector_index")


def test_a_page_whose_session_the_database_cannot_read_is_a_503_not_a_500(admin_user, monkeypatch):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)

    def refused(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    # The session middleware reads the session before any view: the 500 handler answers.
    with monkeypatch.context() as patch:  # undone before the test database is cleaned up
        patch.setattr(connection, "ensure_connection", refused)
        response = client.get("/people/")
    assert_unavailable(response, "database")


def test_any_other_error_keeps_the_500(admin_user, monkeypatch):
    from records import views

    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    monkeypatch.setattr(views.PersonListView, "get", lambda *args, **kwargs: 1 / 0)

    response = client.get("/people/")
    assert response.status_code == 500 and "Retry-After" not in response


@pytest.mark.parametrize(
    "error, dependency",
    [
        (OSError(errno.ENOSPC, "No space left on device"), "disk"),
        (OperationalError("database or disk is full"), "disk"),
        (OperationalError("database is locked"), "database"),
        (OSError(errno.ENOENT, "No such file"), None),
        (ValueError("x"), None),
    ],
)
def test_which_dependency_an_error_names(error, dependency):
    assert dependency_down(error) == dependency


def test_an_s3_connection_error_names_the_photo_store_even_when_wrapped():
    from botocore.exceptions import EndpointConnectionError

    try:
        try:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
        except EndpointConnectionError as cause:
            raise RuntimeError("saving failed") from cause
    except RuntimeError as error:
        assert dependency_down(error) == "photo_store"
