"""POST, GET /streams and DELETE /streams/{id}: scope admin, what a URL may be (SSRF), the fps range,
the collection existing and within the key's, and no password shown back."""

import pytest

from access.scopes import ADMIN, ALL, MATCH, READ
from audit.models import AuditEvent
from records.models import Collection
from streams.models import Stream
from tests.api.conftest import api, api_key  # noqa: F401  (the API tests' fixtures)
from tests.keys import key_client

CAMERA = "rtsp://127.0.0.1:8554/door"


@pytest.fixture
def loopback_allowed(settings):
    settings.STREAM_ALLOWED_NETWORKS = ["127.0.0.1/32"]


def test_a_stream_is_made_listed_and_deleted(api, loopback_allowed):
    made = api.post("/streams", {"url": "rtsp://door:s3cret@127.0.0.1:8554/door", "name": "front door", "fps": 4}, format="json")
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["name"] == "front door" and body["collection"] == "default" and body["fps"] == 4
    assert body["url"] == "rtsp://door:***@127.0.0.1:8554/door"  # the password is never shown back
    assert body["running"] is False and body["frames"] == 0 and body["last_error"] == ""
    assert Stream.objects.get().url == "rtsp://door:s3cret@127.0.0.1:8554/door"
    listed = api.get("/streams").json()
    assert [each["id"] for each in listed] == [body["id"]] and "s3cret" not in str(listed)
    assert api.delete(f"/streams/{body['id']}").status_code == 204
    assert not Stream.objects.exists()
    made_event, deleted_event = AuditEvent.objects.filter(target=body["id"]).order_by("at", "id")
    assert (made_event.action, made_event.status, deleted_event.action) == ("create_stream", 201, "delete_stream")
    assert made_event.detail["url"] == "rtsp://door:***@127.0.0.1:8554/door" and "s3cret" not in str(deleted_event.detail)
    assert api.delete(f"/streams/{body['id']}").status_code == 404
    assert api.delete("/streams/not-an-id").status_code == 404


@pytest.mark.parametrize("url", [
    CAMERA,  # loopback, not allowed here
    "rtsp://10.0.0.5/stream", "http://192.168.1.20/mjpeg", "http://169.254.169.254/latest/meta-data/",
    "rtsp://[::1]/x", "http://0.0.0.0/", "ftp://example.com/v.mp4", "rtmp://example.com/live", "gopher://x/",
    "rtsp:///no-host", "not a url", "rtsp://127.0.0.1:99999/x", "/etc/passwd", "file:///etc/passwd",
])
def test_loopback_private_and_other_urls_and_files_are_refused(api, url):
    response = api.post("/streams", {"url": url, "name": "x"}, format="json")
    assert response.status_code == 400, response.json()
    assert "url" in str(response.json())
    assert not Stream.objects.exists()


def test_files_only_within_the_roots(api, settings, tmp_path):
    video = tmp_path / "videos" / "door.mkv"
    video.parent.mkdir()
    video.write_bytes(b"not checked to be a video: the runner says so if it is not")
    (tmp_path / "videos" / "out").symlink_to("/etc/passwd")
    settings.STREAM_FILE_ROOTS = [str(video.parent)]
    assert api.post("/streams", {"url": f"file://{video}", "name": "a"}, format="json").status_code == 201
    for url in (f"file://{video.parent}/missing.mkv", f"file://{video.parent}/out", f"file://{video.parent}/../videos/../x.mkv"):
        response = api.post("/streams", {"url": url, "name": "b"}, format="json")
        assert response.status_code == 400 and "url" in str(response.json()), url


@pytest.mark.parametrize("fps", [0, 0.1, 15.5, -1, "fast", None])
def test_fps_out_of_range_is_400(api, loopback_allowed, fps):
    response = api.post("/streams", {"url": CAMERA, "name": "x", "fps": fps}, format="json")
    assert response.status_code == 400 and "fps" in str(response.json())


def test_name_missing_taken_or_too_long_is_400(api, loopback_allowed):
    assert api.post("/streams", {"url": CAMERA, "name": "door"}, format="json").status_code == 201
    for body in ({"url": CAMERA}, {"url": CAMERA, "name": "door"}, {"url": CAMERA, "name": "x" * 101}, {"name": "y"}):
        response = api.post("/streams", body, format="json")
        assert response.status_code == 400, body
    assert Stream.objects.count() == 1


def test_the_collection_must_exist_and_be_the_keys(db, loopback_allowed):
    Collection.objects.create(name="site-a")
    Collection.objects.create(name="site-b")
    site_a = key_client("site-a admin", scopes=[ADMIN], collections=["site-a"])
    assert site_a.post("/streams", {"url": CAMERA, "name": "b", "collection": "site-b"}, format="json").status_code == 404
    assert site_a.post("/streams", {"url": CAMERA, "name": "n", "collection": "nowhere"}, format="json").status_code == 404
    assert site_a.post("/streams", {"url": CAMERA, "name": "bad", "collection": "not a slug"}, format="json").status_code == 400
    made = site_a.post("/streams", {"url": CAMERA, "name": "a", "collection": "site-a"}, format="json")
    assert made.status_code == 201
    everyone = key_client("admin", scopes=[ALL])
    other = everyone.post("/streams", {"url": CAMERA, "name": "b", "collection": "site-b"}, format="json").json()
    # The limited key sees and deletes only its collection's stream.
    assert [each["name"] for each in site_a.get("/streams").json()] == ["a"]
    assert site_a.delete(f"/streams/{other['id']}").status_code == 404
    assert sorted(each["name"] for each in everyone.get("/streams").json()) == ["a", "b"]


@pytest.mark.parametrize("scopes", [[MATCH], [READ], [MATCH, READ]])
def test_only_the_admin_scope_may(db, loopback_allowed, scopes):
    stream = Stream.objects.create(name="door", url=CAMERA, collection=Collection.default(), fps=5)
    client = key_client("not admin", scopes=scopes)
    assert client.get("/streams").status_code == 403
    assert client.post("/streams", {"url": CAMERA, "name": "x"}, format="json").status_code == 403
    assert client.delete(f"/streams/{stream.pk}").status_code == 403
    assert Stream.objects.count() == 1


def test_without_a_key_401(client, db):
    assert client.get("/streams").status_code == 401
    assert client.post("/streams", {"url": CAMERA, "name": "x"}, content_type="application/json").status_code == 401


@pytest.mark.parametrize("body", [[], "x", {"url": 5, "name": "x"}, {"url": CAMERA, "name": ["x"]}, {"url": None, "name": "x"}])
def test_bad_bodies_are_400(api, loopback_allowed, body):
    assert api.post("/streams", body, format="json").status_code == 400


def test_the_admin_shows_a_stream_and_its_counts_without_the_password(admin_client, photo):
    from tests.pages.admin_rows import stream

    made = stream(photo)
    for page in ("/admin/streams/stream/", f"/admin/streams/stream/{made.pk}/change/"):
        html = admin_client.get(page).content.decode()
        assert "front door" in html and "s3cret" not in html, page
    assert "rtsp://door:***@192.0.2.7:554/live" in html and "The stream stopped sending frames." in html
    assert admin_client.get("/admin/streams/stream/add/").status_code == 403  # made through the API


def test_a_collection_deleted_while_the_stream_is_made_is_not_found_not_a_name_taken(db, loopback_allowed):
    from records.usecases.errors import NotFound
    from streams.registry import StreamAsked, create_stream

    site = Collection.objects.create(name="site-a")
    Collection.objects.filter(pk=site.pk).delete()  # by another request, after this one found it
    with pytest.raises(NotFound):
        create_stream(StreamAsked(url=CAMERA, name="front door", collection=site, fps=4))
    assert not Stream.objects.exists()
