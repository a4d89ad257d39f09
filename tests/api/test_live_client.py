"""The Python client of docs/api.md (the original README's, with an API key), run as written
against a live server with real photos; then the same calls for a stranger and a clean delete."""

import contextlib
import io
import re
from pathlib import Path

import pytest
import requests
import schemathesis

from records.models import FaceImage, Person

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def documented_client() -> str:
    section = DOCS.read_text().split("## Python client", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def run_client(code: str, base_url: str, api_key: str) -> str:
    code = re.sub(r'^BASE_URL = ".*"$', f"BASE_URL = {base_url!r}", code, count=1, flags=re.MULTILINE)
    code = re.sub(r'^API_KEY = ".*"$', f"API_KEY = {api_key!r}", code, count=1, flags=re.MULTILINE)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, str(DOCS), "exec"), {})
    return output.getvalue()


@pytest.fixture
def photos_in_cwd(tmp_path, monkeypatch, photo):
    """The client opens john_doe.jpg and unknown.jpg: two different photos of one man."""
    (tmp_path / "john_doe.jpg").write_bytes(photo("George_W_Bush", 0))
    (tmp_path / "unknown.jpg").write_bytes(photo("George_W_Bush", 2))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_documented_client_enrols_lists_matches_and_deletes(live_server, api_key, photos_in_cwd, settings):
    output = run_client(documented_client(), live_server.url, api_key)

    lines = output.splitlines()
    assert lines[0].startswith("Created: {'success': True, 'message': \"Face record created successfully")
    assert lines[1] == "Total records: 1"
    assert lines[2] == "Recognized: John Doe"
    assert re.fullmatch(r"Confidence: \d+\.\d\d%", lines[3])
    assert lines[4].startswith("{'success': True, 'message': \"Successfully deleted record for 'John Doe'\"")
    # The delete committed for real: no rows, no stored photo, nothing left in the index.
    assert not Person.objects.exists() and not FaceImage.objects.exists()
    assert not any(path.is_file() for path in Path(settings.MEDIA_ROOT).rglob("*"))
    health = requests.get(f"{live_server.url}/health", headers={"X-API-Key": api_key}, timeout=30).json()
    assert [model["index_size"] for model in health["models"].values() if model["active"]] == [0]


def test_a_stranger_is_an_unknown_person_over_http(live_server, api_key, photos_in_cwd, photo, lfw_people):
    headers = {"X-API-Key": api_key}
    with open("john_doe.jpg", "rb") as f:
        created = requests.post(
            f"{live_server.url}/records", headers=headers, files={"image": f}, data={"name": "John Doe"}, timeout=60
        )
    assert created.status_code == 201
    stranger = next(name for name, photos in lfw_people.items() if len(photos) == 1 and "Bush" not in name)

    result = requests.post(
        f"{live_server.url}/records/match",
        headers=headers,
        files={"image": ("stranger.jpg", photo(stranger, 0))},
        data={"top_k": 5},
        timeout=60,
    ).json()

    assert result["recognized"] is False and result["best_match"] is None
    assert [m["name"] for m in result["top_matches"]] == ["John Doe"]
    assert result["top_matches"][0]["within_threshold"] is False


def test_a_photo_too_large_is_413_over_http(live_server, api_key, settings):
    settings.MAX_UPLOAD_BYTES = 10_000

    response = requests.post(
        f"{live_server.url}/records",
        headers={"X-API-Key": api_key},
        files={"image": ("big.jpg", b"\xff\xd8\xff" + b"\0" * 120_000)},
        data={"name": "Big"},
        timeout=60,
    )

    assert response.status_code == 413
    length = int(response.request.headers["Content-Length"])
    assert response.json() == {
        "detail": f"The request body is {length:,} bytes; the limit is {10_000 + 64 * 1024:,} bytes "
        "(images are limited to 10,000 bytes)."
    }


def test_every_answer_over_http_is_one_the_schema_documents(
    live_server, api_key, photo, no_face_photo, two_faces_photo
):
    """Success bodies too, which the fuzz run cannot reach without real faces."""
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    base, headers = live_server.url, {"Authorization": f"Api-Key {api_key}"}
    checked = []

    def call(method: str, path: str, template: str, status: int, **kwargs) -> requests.Response:
        kwargs.setdefault("headers", headers)
        response = requests.request(method, base + path, timeout=60, **kwargs)
        assert response.status_code == status, response.text
        schema[template][method].validate_response(response)
        checked.append((method, template, status))
        return response

    def image(data: bytes) -> dict:
        return {"image": ("photo.jpg", data)}

    record = call("POST", "/records", "/records", 201, files=image(photo("Tony_Blair", 0)),
                  data={"name": "Tony Blair", "metadata": '{"team": "A"}'}).json()["record"]
    call("POST", "/records", "/records", 201, files=image(two_faces_photo), data={"name": "Kit"})
    call("POST", "/records", "/records", 422, files=image(two_faces_photo), data={"name": "Kit", "strict": "true"})
    call("POST", "/records", "/records", 422, files=image(no_face_photo), data={"name": "Nobody"})
    call("POST", "/records", "/records", 400, files=image(b"not a photo"), data={"name": "Nobody"})
    call("GET", "/records?limit=1", "/records", 200)
    one = f"/records/{record['id']}"
    call("PATCH", one, "/records/{id}", 200, json={"metadata": {"team": "B"}})
    added = call("POST", f"{one}/images", "/records/{id}/images", 201, files=image(photo("Tony_Blair", 1))).json()
    photo_path = f"{one}/images/{added['image']['id']}"
    detail = call("GET", one, "/records/{id}", 200).json()
    assert [image["url"] for image in detail["images"]][-1] == base + photo_path
    call("GET", photo_path, "/records/{id}/images/{image_id}", 200)
    call("POST", "/records/match", "/records/match", 200, files=image(photo("Tony_Blair", 2)))
    call("POST", "/records/match", "/records/match", 422, files=image(no_face_photo))
    call("DELETE", photo_path, "/records/{id}/images/{image_id}", 200)
    call("POST", "/maintenance/rebuild-index", "/maintenance/rebuild-index", 200)
    call("GET", "/health", "/health", 200)
    call("DELETE", one, "/records/{id}", 200)
    call("GET", one, "/records/{id}", 404)
    call("GET", "/records", "/records", 401, headers={})
    assert len(checked) == 18
