"""Fixtures shared by all tests.

`world` is built once per test database and committed: two brands, three clients (each with its
own schema), their operators and employees. Tests run inside a transaction that is rolled back,
so they can change anything and the next test still finds the same world.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client as HttpClient
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from conferencing.services import room_create
from config.redis_store import get_redis, rkey
from records.models import Cdr
from telephony.models import Extension
from telephony.services import extension_create, extension_update
from tenants.models import Brand, Client, Role, User
from tenants.services import brand_create, client_create, client_primary_domain, operator_create, token_create

pytest_plugins = ["tests.chat.agents_fixtures"]  # the chat agents' fixtures (chat_queue, visitor, ...)

PASSWORD = "test-password-1"
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)  # the call records' default start


@dataclass
class World:
    god: User
    brand_a: Brand
    brand_b: Brand
    brand_a_op: User
    brand_b_op: User
    client_a1: Client
    client_a2: Client
    client_b1: Client
    client_a1_op: User
    client_a2_op: User
    client_b1_op: User
    user_a1: User
    user_a1b: User
    user_a1c: User
    user_b1: User
    hosts: dict = field(default_factory=dict)

    def host_of(self, account: User) -> str:
        """The host of the portal an account signs in to."""
        if account.role == Role.GOD:
            return settings.OCX_PLATFORM_HOSTS[0]
        if account.role == Role.BRAND:
            return Brand.objects.get(pk=account.brand_id).domain
        return client_primary_domain(Client.objects.get(pk=account.client_id))

    def extension_of(self, account: User) -> Extension:
        with tenant_context(account.client):
            return Extension.objects.get(account_id=account.pk)


def _get_or_build_world() -> World:
    god = User.objects.filter(email="god@test.example").first()
    if god is None:
        god = User.objects.create_user("god@test.example", PASSWORD, name="God", role=Role.GOD)
        brand_a = brand_create(actor=god, name="Brand A", domain="brand-a.localhost")
        brand_b = brand_create(actor=god, name="Brand B", domain="brand-b.localhost")
        for brand, letter in ((brand_a, "a"), (brand_b, "b")):
            operator_create(
                actor=god,
                role=Role.BRAND,
                email=f"ops@brand-{letter}.example",
                name=f"Ops {letter}",
                password=PASSWORD,
                brand=brand,
            )
        specs = [
            ("a1", brand_a, Client.Kind.PBX),
            ("a2", brand_a, Client.Kind.CONFERENCING),
            ("b1", brand_b, Client.Kind.PBX),
        ]
        for offset, (tag, brand, kind) in enumerate(specs, start=1):
            client = client_create(actor=god, brand=brand, name=f"Client {tag}", slug=f"client-{tag}", kind=kind)
            # Each schema numbers its rows from 1; distinct ranges make "another client's id" mean a
            # row that does not exist here, so isolation tests cannot pass by hitting an own row.
            with connection.cursor() as cursor:
                for table in ("telephony_extension", "conferencing_room", "conferencing_message",
                              "conferencing_campaign", "telephony_block", "voicemail_mailbox",
                              "voicemail_message"):  # fmt: skip
                    cursor.execute(f'ALTER SEQUENCE "{client.schema_name}".{table}_id_seq RESTART WITH {offset * 1000}')
            op = operator_create(
                actor=god,
                role=Role.CLIENT,
                email=f"admin@client-{tag}.example",
                name=f"Admin {tag}",
                password=PASSWORD,
                client=client,
            )
            first, _ = extension_create(
                actor=op,
                client=client,
                email=f"user@client-{tag}.example",
                name=f"User {tag}",
                password=PASSWORD,
                number="101",
            )
            if tag == "a1":
                second, _ = extension_create(
                    actor=op,
                    client=client,
                    email="user2@client-a1.example",
                    name="User a1b",
                    password=PASSWORD,
                    number="102",
                )
                third, _ = extension_create(
                    actor=op,
                    client=client,
                    email="user3@client-a1.example",
                    name="User a1c",
                    password=PASSWORD,
                    number="103",
                )
                extension_update(actor=op, client=client, extension=third, may_intercept=True, may_barge=True)
                # 101 moderates a conference room: *884242 or 800, PIN 1111 (moderator 9999); 801 (or the
                # API) calls 102 and 103 into it, once more after 5 s for who did not join.
                room_create(actor=op, client=client, moderator=first.account, name="Team room", conference_id="4242",
                            participant_pin="1111", moderator_pin="9999", access_number="800", trigger_number="801",
                            hot_numbers="102\n103", hot_retries=1, hot_retry_seconds=5)  # fmt: skip
                # 102 moderates a room for two: music until the moderator comes, ended when they leave.
                room_create(actor=op, client=client, moderator=second.account, name="Board", conference_id="5151",
                            participant_pin="2222", moderator_pin="8888", max_participants=2,
                            wait_for_moderator=True, end_with_moderator=True)  # fmt: skip
    connection.set_schema_to_public()
    by_email = {u.email: u for u in User.objects.select_related("brand", "client")}
    clients = {c.slug: c for c in Client.objects.select_related("brand")}
    return World(
        god=by_email["god@test.example"],
        brand_a=Brand.objects.get(domain="brand-a.localhost"),
        brand_b=Brand.objects.get(domain="brand-b.localhost"),
        brand_a_op=by_email["ops@brand-a.example"],
        brand_b_op=by_email["ops@brand-b.example"],
        client_a1=clients["client-a1"],
        client_a2=clients["client-a2"],
        client_b1=clients["client-b1"],
        client_a1_op=by_email["admin@client-a1.example"],
        client_a2_op=by_email["admin@client-a2.example"],
        client_b1_op=by_email["admin@client-b1.example"],
        user_a1=by_email["user@client-a1.example"],
        user_a1b=by_email["user2@client-a1.example"],
        user_a1c=by_email["user3@client-a1.example"],
        user_b1=by_email["user@client-b1.example"],
    )


def pytest_configure(config):
    """A pytest-xdist worker needs names of its own (tests/workers.py), which `-p tests.workers` gives
    before the settings are read: without them two workers would share keys, queues and engines."""
    parallel = hasattr(config, "workerinput") or config.getoption("numprocesses", None)
    if parallel and not config.pluginmanager.has_plugin("tests.workers"):
        raise pytest.UsageError("run the tests in parallel with platform/test.py, or pass -p tests.workers with -n")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Migrate the test database (pytest-django), then build the world once, committed."""
    with django_db_blocker.unblock():
        _get_or_build_world()


@pytest.fixture
def own_redis(tmp_path, settings):
    """A redis-server of the test's own, to kill and restart (tests/own_redis.py)."""
    from tests.own_redis import serving

    yield from serving(tmp_path, settings)


@pytest.fixture
def world(db) -> World:
    return _get_or_build_world()


@pytest.fixture
def portal(world):
    """portal(account) -> a browser-like test client signed in on that account's own host."""

    def make(account: User | None = None, host: str | None = None) -> HttpClient:
        http = HttpClient(HTTP_HOST=host or (world.host_of(account) if account else "localhost"))
        if account is not None:
            http.force_login(account)
        return http

    return make


@pytest.fixture
def api(world):
    """api(account, host=None) -> an API client authenticated by a fresh token of that account."""

    def make(account: User | None = None, host: str | None = None) -> APIClient:
        client = APIClient(HTTP_HOST=host or (world.host_of(account) if account else "localhost"))
        if account is not None:
            _, key = token_create(actor=account, name="test")
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make


@pytest.fixture
def cdr_factory(world):
    """cdr_factory(client=None, **fields) -> a call record of that client (client a1 if none): by
    default an answered outbound call from 101 to `number`, started at `started_at` (+ `minutes`),
    answered `answer_after` s later (None: not answered) and talking for `seconds`; ended=False
    leaves it in progress, `ended_at` sets its end. Any other field of Cdr may be given. Records of
    one client never share a start: a second one at the same instant starts a microsecond later, so
    creation order is start order. For a record another process must see, build it with
    tests.waiting.committed(cdr_factory, ...)."""
    starts: set = set()

    def make(client=None, *, number: str = "442071234567", seconds: int = 61, answer_after: float | None = 3,
             started_at: dt.datetime = T0, minutes: float = 0, ended: bool = True, ended_at: dt.datetime | None = None,
             disposition: str = "answered", service: str = "call", account=None, callee_account=None,
             moderator=None, **fields) -> Cdr:  # fmt: skip
        client = client or world.client_a1
        start = started_at + dt.timedelta(minutes=minutes)
        while (client.pk, start) in starts:
            start += dt.timedelta(microseconds=1)
        starts.add((client.pk, start))
        answered = start + dt.timedelta(seconds=answer_after) if answer_after is not None else None
        if disposition != "answered":
            answered = None
        end = (ended_at or (answered or start) + dt.timedelta(seconds=seconds)) if ended else None
        values = {
            "brand_id": client.brand_id, "client_id": client.pk, "call_uuid": uuid.uuid4(), "engine": "e1",
            "direction": "outbound", "disposition": disposition if ended else "in-progress", "caller_number": "101",
            "callee_number": number, "service": service, "conference": "4242" if service == "conference" else "",
            "account_id": account.pk if account else None,
            "callee_account_id": callee_account.pk if callee_account else None,
            "moderator_id": moderator.pk if moderator else None, "started_at": start, "answered_at": answered,
            "ended_at": end, "duration": int((end - start).total_seconds()) if end else 0,
            "billsec": seconds if answered and ended else 0,
        }  # fmt: skip
        values.update(fields)
        return Cdr.objects.create(**values)

    return make


@pytest.fixture(autouse=True)
def _public_schema_after_test():
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _signin_counters_cleared():
    """Failed sign-ins live in Redis, outside the rolled-back transaction: each test starts afresh."""
    yield
    r = get_redis()
    keys = list(r.scan_iter(match=rkey("signin", "*"), count=500))
    if keys:
        r.delete(*keys)


@pytest.fixture(autouse=True)
def _channel_layer_of_its_own():
    """Each test's event loop (async_to_sync makes one per call) gets channel layers no other test's
    loop has touched. channels-redis keeps per-process receive state (its receive lock, the per-channel
    cleanup locks held until a cleanup task runs) that a test's loop ending mid-receive leaves bound to
    that loop, locked, and every later consumer of the process then fails ("bound to a different event
    loop"; CI's run died of it); and the group members a test's sockets left behind would each still
    be sent every event of the group. One process (daphne) runs one loop, so this is the tests' own
    hazard (tests/test_channel_layer_guard.py). So are chat's connections of a loop (chat/loopdb.py):
    closed with the test."""
    yield
    from channels.layers import channel_layers

    from chat import loopdb

    channel_layers.backends.clear()
    loopdb.close_all()
