"""The OpenAPI schema is complete and valid; Swagger UI and ReDoc are served with no CDN."""

import json
import re
from urllib.parse import urljoin

import pytest
import requests
from django.core.management import call_command
from playwright.sync_api import expect

from .test_scopes import ENDPOINTS

pytestmark = pytest.mark.django_db

SCOPE_OF = {(method, path): scope for method, path, scope, _ in ENDPOINTS}
# The review inbox's operations (tests/inbox/test_api.py calls each with the scopes it needs).
INBOX = {
    ("/unknown-faces/clusters", "get"),
    ("/unknown-faces/clusters/merge", "post"),
    ("/unknown-faces/clusters/{id}", "delete"),
    ("/unknown-faces/clusters/{id}/enrol", "post"),
    ("/unknown-faces/clusters/{id}/assign", "post"),
    ("/unknown-faces/clusters/{id}/split", "post"),
    ("/unknown-faces/{id}/image", "get"),
    ("/unknown-faces/{id}", "delete"),
    ("/matches/{match_id}/feedback", "post"),
}
SCOPE_OF.update({(method.upper(), path): "review" for path, method in INBOX})

OPERATIONS = {
    ("/records", "get"),
    ("/records", "post"),
    ("/records/match", "post"),
    ("/records/{id}", "get"),
    ("/records/{id}", "patch"),
    ("/records/{id}", "delete"),
    ("/records/{id}/export", "get"),
    ("/records/{id}/images", "post"),
    ("/records/{id}/images/{image_id}", "get"),
    ("/records/{id}/images/{image_id}", "delete"),
    ("/verify", "post"),
    ("/maintenance/rebuild-index", "post"),
    ("/maintenance/jobs/{id}", "get"),
    ("/health", "get"),
    ("/collections", "get"),
    ("/collections", "post"),
    ("/collections/{name}", "patch"),
    ("/collections/{name}", "delete"),
    ("/webhooks", "get"),
    ("/webhooks", "post"),
    ("/webhooks/{id}", "delete"),
    ("/webhooks/{id}/deliveries", "get"),
    ("/streams", "get"),
    ("/streams", "post"),
    ("/streams/{id}", "delete"),
    *INBOX,
}


def test_spectacular_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_the_served_schema_describes_every_operation_with_its_errors(client):
    schema = client.get("/openapi.json").json()

    operations = {
        (path, method): operation for path, item in schema["paths"].items() for method, operation in item.items()
    }
    assert set(operations) == OPERATIONS
    for (path, method), operation in operations.items():
        assert operation.get("summary"), (path, method)
        if path != "/health":
            assert {"401", "403"} <= set(operation["responses"]), (path, method)
            assert operation["security"] == [{"ApiKeyAuth": []}, {"XApiKeyAuth": []}]
            scope = SCOPE_OF[(method.upper(), path)]
            assert operation["x-required-scope"] == scope, (path, method)
            assert f"Needs an API key with the `{scope}` scope" in operation["description"]
            forbidden = operation["responses"]["403"]["content"]["application/json"]
            assert forbidden["schema"] == {"$ref": "#/components/schemas/MissingScope"}
            assert [example["value"]["required_scope"] for example in forbidden["examples"].values()] == [scope]
        if "{id}" in path or "{name}" in path:
            assert "404" in operation["responses"], (path, method)
        if "requestBody" in operation and method == "post" and path not in ("/collections", "/webhooks", "/streams"):
            assert set(operation["responses"]) >= {"400", "413", "415", "422"}, (path, method)
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "Authorization"
    assert schema["components"]["securitySchemes"]["XApiKeyAuth"]["name"] == "X-API-Key"
    assert "x-required-scope" not in operations[("/health", "get")]
    record = schema["components"]["schemas"]["Record"]["properties"]
    assert set(record) == {"id", "name", "metadata", "created_at", "embedding_index"}


@pytest.mark.parametrize("page_path", ["/docs", "/redoc"])
def test_docs_pages_load_everything_from_this_server(live_server, page_path):
    html = requests.get(live_server.url + page_path, timeout=30).text

    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    for asset in assets:
        url = urljoin(live_server.url + page_path, asset)
        assert url.startswith(live_server.url), f"{asset} is not served by this server"
        assert requests.get(url, timeout=30).status_code == 200, url
    assert "/openapi.json" in html
    assert json.loads(requests.get(live_server.url + "/openapi.json", timeout=30).text)["openapi"].startswith("3.")


@pytest.mark.browser
@pytest.mark.parametrize(
    "page_path, rendered",
    [("/docs", ".opblock-summary-path[data-path='/records/match']"), ("/redoc", "h2:has-text('Enrol a person')")],
)
def test_docs_render_in_a_browser_without_any_outside_request(live_server, page, page_path, rendered):
    outside = []

    def only_this_server(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(live_server.url + page_path)
    page.locator(rendered).first.wait_for(timeout=30_000)
    assert outside == []


def test_swagger_ui_keeps_no_key_in_the_browser(client):
    html = client.get("/docs").content.decode()
    assert '"persistAuthorization": false' in html


@pytest.mark.browser
def test_redoc_shows_no_outside_logo(live_server, watched):
    """ReDoc's sidebar credit is an image from its CDN: the page must not ask for it (nor be
    refused it by the Content-Security-Policy, a console error)."""
    watched.goto(f"{live_server.url}/redoc")
    expect(watched.page.locator("h2:has-text('Enrol a person')").first).to_be_visible(timeout=30_000)
    watched.page.mouse.wheel(0, 4000)  # the sidebar's end, where the credit is
    watched.page.wait_for_timeout(500)
    watched.check()
    assert not [img for img in watched.page.locator("img").all() if "redoc.ly" in (img.get_attribute("src") or "")]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_swagger_try_it_out_runs_the_match_as_filled_in(live_server, watched, photo, lfw_people, face_service):
    """Swagger UI's form for POST /records/match, executed with only a photo chosen: a stranger is
    answered unknown (no made-up collection, top_k 5, the calibrated threshold)."""
    from records.usecases import enrolment
    from tests.keys import new_key

    enrolment.enrol("Colin Powell", photo("Colin_Powell", 0))
    enrolment.enrol("Tony Blair", photo("Tony_Blair", 0))
    page = watched.page
    watched.goto(f"{live_server.url}/docs")
    page.get_by_role("button", name="Authorize").click()
    dialog = page.locator(".dialog-ux")
    expect(dialog).not_to_contain_text("cookie")  # API keys only: no session cookie on offer
    dialog.locator(".auth-container:has-text('XApiKeyAuth') input").fill(new_key("swagger", ["match"]))
    dialog.locator(".auth-container:has-text('XApiKeyAuth') button.authorize").click()
    dialog.locator("button.btn-done").first.click()

    operation = page.locator("#operations-records-match")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    query = operation.locator("tr[data-param-name='collection'] input")
    form = {row.get_attribute("data-property-name"): row for row in operation.locator("tr[data-property-name]").all()}
    assert query.input_value() == "" and form["collection"].locator("input[type=text]").input_value() == ""
    assert form["threshold"].locator("input[type=text]").input_value() == ""
    assert form["top_k"].locator("input[type=text]").input_value() == "5"
    form["image"].locator("input[type=file]").set_input_files(lfw_people["Serena_Williams"][0])
    operation.get_by_role("button", name="Execute").click()

    body = operation.locator(".live-responses-table .response-col_description pre").first
    expect(body).to_contain_text('"recognized": false')
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    watched.check()


def test_an_operation_that_names_no_scope_cannot_be_served_or_documented():
    """A new endpoint without its line in `required_scopes` fails closed, and visibly."""
    from django.core.exceptions import ImproperlyConfigured

    from access.permissions import required_scope
    from records.api.views import RecordViewSet

    view = RecordViewSet()
    view.action = "archive"  # an action nobody gave a scope

    with pytest.raises(ImproperlyConfigured, match="required_scopes names no scope for 'archive'"):
        required_scope(view, "GET")
