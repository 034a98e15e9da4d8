"""forwarding_save when two changes of one line's call handling meet (the portal, the API and the
phone's feature codes may all write at once): each keeps what the other changed, and neither fails."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django_tenants.utils import tenant_context

from telephony.models import Forwarding
from telephony.services import forwarding_save
from tests.waiting import committed, wait_for


def in_thread(function) -> tuple[threading.Thread, dict]:
    """Run `function` on a database connection of its own, as another request would; its outcome lands
    in the box ("value" or "error")."""
    box: dict = {}

    def run():
        from django.db import connection as own

        try:
            box["value"] = function()
        except BaseException as exc:
            box["error"] = exc
        finally:
            own.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def a_session_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # the test's transaction would see its first look only
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


def stored(client, line) -> Forwarding | None:
    with tenant_context(client):
        return Forwarding.objects.filter(extension_id=line.pk).first()


def forget(client, line) -> None:
    with tenant_context(client):
        Forwarding.objects.filter(extension_id=line.pk).delete()


@pytest.mark.parametrize("existing", [False, True], ids=["first-time", "existing"])
def test_two_saves_at_once_keep_both_changes(world, existing):
    client, line = world.client_a1, world.extension_of(world.user_a1c)
    if existing:
        committed(lambda: forwarding_save(actor=None, client=client, extension=line, busy_kind="hangup"))
    first_saved, release = threading.Event(), threading.Event()

    def first():  # saves, then holds its transaction open until the second save is under way
        with transaction.atomic():
            forwarding_save(actor=None, client=client, extension=line, dnd=True)
            first_saved.set()
            release.wait(10)

    try:
        one, one_box = in_thread(first)
        assert first_saved.wait(10), one_box
        two, two_box = in_thread(
            lambda: forwarding_save(actor=None, client=client, extension=line, find_me="+12024561111")
        )
        wait_for(a_session_waits_for_a_lock, "the second save waiting for the first")
        release.set()
        one.join(10), two.join(10)
        assert "error" not in one_box and "error" not in two_box, two_box.get("error")
        row = committed(stored, client, line)
        assert (row.dnd, row.find_me, row.busy_kind) == (True, "+12024561111", "hangup" if existing else "")
    finally:
        release.set()
        committed(forget, client, line)


def test_find_me_is_never_one_of_the_clients_own_numbers_and_nothing_forwards_to_an_emergency_number(world):
    from django.core.exceptions import ValidationError

    from billing.models import Carrier
    from pstn.models import Number

    client, line = world.client_a1, world.extension_of(world.user_a1b)
    carrier = Carrier.objects.create(name="own-numbers", brand=world.brand_a, country="US")
    Number.objects.create(brand=world.brand_a, e164="+16502530079", carrier=carrier, client=client,
                          destination_kind="user", destination_target="103")  # fmt: skip
    with pytest.raises(ValidationError) as refused:  # (it would ring here, through a carrier and back in)
        forwarding_save(actor=None, client=client, extension=line, find_me="(650) 253-0079")
    assert "own numbers" in refused.value.message_dict["find_me"][0]

    emergency = (({"find_me": "911"}, "find_me"), ({"busy_kind": "external", "busy_target": "911"}, "busy_target"),
                 ({"always_kind": "external", "always_target": "+1 911"}, "always_target"))  # fmt: skip
    for fields, field in emergency:
        with pytest.raises(ValidationError) as refused:
            forwarding_save(actor=None, client=client, extension=line, **fields)
        assert field in refused.value.message_dict, fields
    with pytest.raises(ValidationError) as refused:
        forwarding_save(actor=None, client=client, extension=line, busy_kind="external", busy_target="911")
    assert "emergency number" in refused.value.message_dict["busy_target"][0]  # said so, not "not a valid number"
    assert stored(client, line) is None or not stored(client, line).find_me
