"""The OpenAPI document matches the API. A schema-driven fuzzer (schemathesis) sends generated
requests, valid and invalid, to every operation of the document, as a client operator and a user
on their client's host, a brand operator on their brand's host and the platform operator on theirs;
no answer may be a server error, a status or content type the document does not list for the
operation, or a body of another shape than it says. Every path under /api/ answers JSON, 404 too."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, settings

from tests.openapi import CHECKS, DOCUMENT, SCHEMA, as_account, send

# Bounded so the whole run takes well under a minute here: the fuzzing phase only (valid and invalid
# requests alike), a few examples per operation and caller. Schemathesis' coverage phase (every
# boundary and negative value of every field) took 7.5 minutes over about 24,000 requests on this
# machine; run it by hand after a large API change, with this line removed and more examples.
SCHEMA.config.phases.coverage.enabled = False


@pytest.fixture
def callers(world):
    """(base URL, headers) for each role that runs the fuzz: a client operator, a user of that client,
    a brand operator and the platform operator, each with a token on their own portal's host."""
    return [as_account(world, account) for account in (world.client_a1_op, world.user_a1, world.brand_a_op, world.god)]


@SCHEMA.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_schema_says(case, callers):
    for base_url, headers in callers:
        response = send(case, base_url, headers)  # each request starts from the same world
        checks = CHECKS
        if response.status_code == 503 and response.json().get("code") == "engine-unavailable":
            # This world runs no call engine: what needs one answers its documented 503 (still checked
            # against the document); any other server error fails.
            checks = [check for check in CHECKS if check is not schemathesis.checks.not_a_server_error]
        case.validate_response(response, checks=checks, headers=headers)


def test_the_served_document_is_the_one_fuzzed(world, api):
    served = api(world.client_a1_op).get("/api/schema/", {"format": "json"})
    assert served.status_code == 200
    assert json.loads(served.content) == json.loads(json.dumps(DOCUMENT, default=str))
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'A key from /api/v1/tokens/, sent as "Token <key>" (or "Bearer <key>").',
    }
    assert schemes["cookieAuth"]["in"] == "cookie"
    assert {"tokenAuth": []} in DOCUMENT["paths"]["/api/v1/calls/"]["get"]["security"]


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here/", "/api/v1/brands/abc/", "/api/v1/calls/not-a-call/", "/api/nothing", "/api/"]
)
def test_every_path_under_api_answers_json_404(world, api, path):
    for http in (api(world.client_a1_op), api(), api(world.god, host="unknown.example")):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json", (path, response.content[:100])
        assert response.json()["code"] == "not-found"
    assert api().get("/nothing-here/")["Content-Type"].startswith("text/html"), "pages keep their HTML 404"


def test_the_document_builds_without_warnings(tmp_path):
    """A warning is a document that says less than the API (two components of one name, an
    authentication it cannot describe): drf-spectacular's own validation must pass without one."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
