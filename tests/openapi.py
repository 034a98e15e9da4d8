"""The API's OpenAPI document as schemathesis reads it, and calls checked against it: the fuzzer
(tests/tenants/test_api_schema.py) and tests that check answers with real rows in them."""

from __future__ import annotations

from contextlib import contextmanager

import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, transaction
from drf_spectacular.generators import SchemaGenerator

from tenants.services import token_create

DOCUMENT = SchemaGenerator().get_schema(request=None, public=True)
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]
APP = WSGIHandler()


@contextmanager
def in_test_transaction():
    """Requests go straight to Django's WSGI handler in this thread, inside the test's transaction;
    Django must not close that connection around them (its own test client does not either)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def send(case, base_url: str, headers: dict):
    """One request of a case, from the state the test left (rolled back after it)."""
    savepoint = transaction.savepoint()
    try:
        with in_test_transaction():
            return case.call(base_url=base_url, headers=headers, app=APP)
    finally:
        transaction.savepoint_rollback(savepoint)
        connection.set_schema_to_public()


def as_account(world, account) -> tuple[str, dict]:
    """(base URL, headers) of a request by `account` with a fresh token, on its own portal's host."""
    _, key = token_create(actor=account, name="openapi")
    return f"http://{world.host_of(account)}", {"Authorization": f"Token {key}"}


def documented_get(world, account, path: str, *, query: dict | None = None, **path_parameters):
    """GET an operation of the document as `account`; its answer must be as the document says."""
    case = SCHEMA[path]["GET"].Case(path_parameters=path_parameters or None, query=query)
    base_url, headers = as_account(world, account)
    response = send(case, base_url, headers)
    case.validate_response(response, checks=CHECKS, headers=headers)
    return response
