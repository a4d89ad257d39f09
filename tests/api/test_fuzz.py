"""A bounded schema-driven fuzz run: schemathesis reads the schema the live server serves and
sends what it generates from it, valid and invalid, to every operation. No answer may be a 5xx,
and every answer must be one the schema documents. Then every path of the schema is sent every
method it does not document, with what schemathesis generates for the path: 405 with `Allow`.

(schemathesis' own pytest loader does not run under pytest 9, so each operation's strategy is
drawn here with hypothesis directly.)
"""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .test_schema_and_docs import OPERATIONS

EXAMPLES_PER_OPERATION = 20
# Schema-valid is not enough to be accepted: a photo must also hold a face, and metadata text must
# be storable (no NUL), which JSON Schema cannot say. Every other check runs.
NOT_EXPRESSIBLE_IN_THE_SCHEMA = [positive_data_acceptance]

# The same examples every run, however long each answer takes.
REPEATABLE = {"deadline": None, "derandomize": True, "suppress_health_check": list(HealthCheck)}
UNDOCUMENTED_EXAMPLES = 5
# HEAD and OPTIONS are answered for every path by the framework (HEAD as GET; OPTIONS describes).
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE"]
PATHS = sorted({path for path, _ in OPERATIONS})
UNDOCUMENTED = [
    (path, method)
    for path in PATHS
    for method in METHODS
    if (path, method.lower()) not in OPERATIONS
]

TAKE_NO_INPUT = {("/health", "get"), ("/collections", "get"), ("/webhooks", "get"), ("/streams", "get")}
RUNS = [(path, method, GenerationMode.POSITIVE) for path, method in sorted(OPERATIONS)] + [
    (path, method, GenerationMode.NEGATIVE)
    for path, method in sorted(OPERATIONS)
    if (path, method) not in TAKE_NO_INPUT  # there is nothing to make invalid
]


@pytest.fixture
def fuzz_target(live_server, api_key, enrol, photo):
    """The served schema, a key and an enrolled person."""
    return {
        "schema": schemathesis.openapi.from_url(f"{live_server.url}/openapi.json"),
        "headers": {"Authorization": f"Api-Key {api_key}"},
        "id": str(enrol("George W Bush", photo("George_W_Bush", 0)).pk),
    }


@pytest.mark.parametrize("path, method, mode", RUNS, ids=[f"{m.upper()} {p} {mode}" for p, m, mode in RUNS])
def test_no_input_makes_the_server_fail(fuzz_target, path, method, mode):
    operation = fuzz_target["schema"][path][method.upper()]
    # Valid requests read and change the existing record (deletes get random ids: one success
    # would leave nothing to vary); invalid ones keep their invalid ids.
    existing = {"id": fuzz_target["id"]} if "{id}" in path and method != "delete" and mode.is_positive else None

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=existing))
    @settings(max_examples=EXAMPLES_PER_OPERATION, **REPEATABLE)
    def send(case):
        case.call_and_validate(headers=fuzz_target["headers"], excluded_checks=NOT_EXPRESSIBLE_IN_THE_SCHEMA)

    send()


@pytest.mark.db_independent  # routing and the permission check, before any query of records
@pytest.mark.parametrize("path, method", UNDOCUMENTED, ids=[f"{m} {p}" for p, m in UNDOCUMENTED])
def test_an_undocumented_method_is_405(fuzz_target, path, method):
    documented = fuzz_target["schema"][path]
    operation = next(iter(documented.values()))  # what the path takes, sent with another method
    existing = {"id": fuzz_target["id"]} if "{id}" in path else None

    @given(case=operation.as_strategy(path_parameters=existing))
    @settings(max_examples=UNDOCUMENTED_EXAMPLES, **REPEATABLE)
    def send(case):
        request = case.as_transport_kwargs(headers=fuzz_target["headers"])
        response = requests.request(**{**request, "method": method}, timeout=30)
        assert response.status_code == 405, (method, request["url"], response.status_code, response.text[:300])
        allowed = {name.strip() for name in response.headers["Allow"].split(",")}
        assert allowed >= {name.upper() for name in documented}, allowed
        assert method not in allowed

    send()
