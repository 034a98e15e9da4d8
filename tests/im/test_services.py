"""Instant messages' services (im/services.py, im/selectors.py) and presence (im/presence.py), on the real
PostgreSQL and Redis: one-to-one and group conversations, the text checks, the sender's rate, unread
counts and read pointers, history paged backwards, and presence from its sources (the choice, the
line's do-not-disturb, the engines' call index, registrations and sockets)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from config.redis_store import get_redis
from im import presence, selectors, services
from im.models import Conversation, Message
from telephony.callindex import where_key
from telephony.services import forwarding_of, forwarding_save
from tenants.errors import NotAllowed


def _send(world, sender, to, body="hello"):
    return services.message_send(client=world.client_a1, sender=sender, to_users=to, body=body)


def test_a_pair_has_one_conversation_whoever_starts_it(world):
    first = _send(world, world.user_a1, [world.user_a1b.pk])
    second = _send(world, world.user_a1b, [world.user_a1])
    assert first.conversation_id == second.conversation_id
    with tenant_context(world.client_a1):
        conversation = Conversation.objects.get(pk=first.conversation_id)
        assert conversation.kind == "direct"
        assert sorted(conversation.members.values_list("account_id", flat=True)) == sorted(
            [world.user_a1.pk, world.user_a1b.pk]
        )


def test_a_group_with_a_title_and_its_unread_counts(world, django_capture_on_commit_callbacks):
    client = world.client_a1
    others = [world.user_a1b.pk, world.user_a1c.pk, world.client_a1_op.pk]
    group = services.conversation_start(client=client, actor=world.user_a1, title="Team", to_users=others)
    for n in range(3):
        services.message_send(client=client, sender=world.user_a1, conversation=group, body=f"m{n}")
    services.message_send(client=client, sender=world.user_a1b, conversation=group, body="reply")
    with tenant_context(client):
        assert selectors.unread_total(world.user_a1.pk) == 1  # (their own are read)
        assert selectors.unread_total(world.user_a1b.pk) == 0  # (replying reads what came before)
        assert selectors.unread_total(world.user_a1c.pk) == 4
        [listed] = [c for c in selectors.conversations_of(world.user_a1c) if c.pk == group.pk]
        assert (listed.unread, selectors.conversation_name(listed)) == (4, "Team")
    latest = services.conversation_read(client=client, actor=world.user_a1c, conversation=group)
    assert latest == 0
    with tenant_context(client):  # a pointer never moves back
        services.conversation_read(client=client, actor=world.user_a1c, conversation=group, up_to=1)
        assert selectors.unread_total(world.user_a1c.pk) == 0


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("", "Write a message."),
        ("   \n ", "Write a message."),
        ("a\x00b", "binary or control"),
        ("bell\x07", "binary or control"),
        ("\ud800", "binary or control"),
        (b"bytes", "is text"),
        (12, "is text"),
        ("x" * 2001, "at most 2000"),
    ],
)
def test_bad_text_is_a_field_error_and_nothing_is_kept(world, body, why):
    with pytest.raises(ValidationError) as error:
        _send(world, world.user_a1, [world.user_a1b.pk], body)
    assert why in " ".join(error.value.message_dict["body"])
    with tenant_context(world.client_a1):
        assert not Message.objects.exists()


def test_html_is_kept_as_written_and_text_with_lines_and_tabs_is_fine(world):
    message = _send(world, world.user_a1, [world.user_a1b.pk], "<script>alert(1)</script>\n\tok")
    assert message.body == "<script>alert(1)</script>\n\tok"


def test_recipients_must_be_the_clients_people(world):
    for to, why in (([world.user_b1.pk], "No such colleague"), ([world.user_a1.pk], "other than yourself"),
                    ([], "at least one"), (["x"], "by their ids"), ([world.god.pk], "No such colleague")):  # fmt: skip
        with pytest.raises(ValidationError) as error:
            _send(world, world.user_a1, to)
        assert why in " ".join(error.value.message_dict["to"]), to
    with pytest.raises(NotAllowed):
        services.message_send(client=world.client_a1, sender=world.user_b1, to_users=[world.user_a1.pk], body="x")


def test_a_group_has_at_most_twenty_people(world):
    from tenants.models import Role, User

    extra = [User.objects.create_user(f"many{n}@client-a1.example", "pw-12345678", name=f"Many {n}", role=Role.USER,
                                      client=world.client_a1) for n in range(20)]  # fmt: skip
    with pytest.raises(ValidationError) as error:
        services.conversation_start(client=world.client_a1, actor=world.user_a1, to_users=[u.pk for u in extra])
    assert "at most 20" in error.value.message_dict["to"][0]
    group = services.conversation_start(
        client=world.client_a1, actor=world.user_a1, to_users=[u.pk for u in extra[:19]]
    )
    assert group.kind == "group"


def test_a_non_member_cannot_send_into_a_conversation(world):
    message = _send(world, world.user_a1, [world.user_a1b.pk])
    with tenant_context(world.client_a1):
        conversation = Conversation.objects.get(pk=message.conversation_id)
    with pytest.raises(NotAllowed):
        services.message_send(client=world.client_a1, sender=world.user_a1c, conversation=conversation, body="hi")


def test_the_senders_rate_is_limited(world, settings):
    settings.OCX_IM = {**settings.OCX_IM, "per_window": 3}
    for _ in range(3):
        _send(world, world.user_a1, [world.user_a1b.pk])
    with pytest.raises(services.TooManyMessages) as error:
        _send(world, world.user_a1, [world.user_a1b.pk])
    assert error.value.status == 429
    _send(world, world.user_a1b, [world.user_a1.pk])  # (someone else's rate is their own)


def test_history_pages_backwards(world):
    first = _send(world, world.user_a1, [world.user_a1b.pk], "m0")
    for n in range(1, 7):
        _send(world, world.user_a1, [world.user_a1b.pk], f"m{n}")
    with tenant_context(world.client_a1):
        conversation = Conversation.objects.get(pk=first.conversation_id)
        latest = selectors.history(conversation, limit=3)
        assert [m.body for m in latest] == ["m4", "m5", "m6"]
        older = selectors.history(conversation, before=latest[0].pk, limit=3)
        assert [m.body for m in older] == ["m1", "m2", "m3"]
        assert [m.body for m in selectors.history(conversation, before=older[0].pk)] == ["m0"]


def test_the_via_is_kept_for_the_phone_bridge(world):
    message = services.message_send(client=world.client_a1, sender=world.user_a1, to_users=[world.user_a1b],
                                    body="from my desk phone", via="sip")  # fmt: skip
    assert message.via == "sip"
    with pytest.raises(ValueError):
        services.message_send(client=world.client_a1, sender=world.user_a1, to_users=[world.user_a1b], body="x",
                              via="fax")  # fmt: skip


# Presence -----------------------------------------------------------------------------------------------


def _states(world):
    return presence.presence_states(world.client_a1)


def test_nobody_registered_and_no_socket_is_offline_and_a_socket_makes_available(world):
    assert _states(world)[world.user_a1.pk] == "offline"
    presence.socket_opened(world.client_a1.pk, world.user_a1.pk, "chan-1")
    assert _states(world)[world.user_a1.pk] == "available"
    presence.socket_closed(world.client_a1.pk, world.user_a1.pk, "chan-1")
    assert _states(world)[world.user_a1.pk] == "offline"


def test_away_and_dnd_are_one_truth_with_the_forwarding(world, django_capture_on_commit_callbacks):
    client, me = world.client_a1, world.user_a1
    presence.socket_opened(client.pk, me.pk, "chan-1")
    with django_capture_on_commit_callbacks(execute=True):
        presence.presence_set(client=client, actor=me, state="away")
    assert _states(world)[me.pk] == "away"
    with django_capture_on_commit_callbacks(execute=True):
        presence.presence_set(client=client, actor=me, state="dnd")
    line = world.extension_of(me)
    assert forwarding_of(client, line).dnd is True  # the line's do-not-disturb: calls go away too
    assert _states(world)[me.pk] == "dnd"
    with django_capture_on_commit_callbacks(execute=True):  # cleared on the call handling page (or *79...)
        forwarding_save(actor=me, client=client, extension=line, dnd=False)
    assert presence.manual_states(client)[me.pk] == "away"  # (the fast copy followed)
    assert _states(world)[me.pk] == "away"
    with django_capture_on_commit_callbacks(execute=True):
        presence.presence_set(client=client, actor=me, state="available")
    assert _states(world)[me.pk] == "available"


def test_the_fast_copy_is_rebuilt_from_postgresql_when_missing(world, django_capture_on_commit_callbacks):
    client, me = world.client_a1, world.user_a1
    with django_capture_on_commit_callbacks(execute=True):
        presence.presence_set(client=client, actor=me, state="away")
    get_redis().delete(presence._manual_key(client.pk))
    assert presence.manual_states(client)[me.pk] == "away"


def test_bad_choices_are_field_errors(world):
    for state in ("on_call", "offline", "", None, 3):
        with pytest.raises(ValidationError) as error:
            presence.presence_set(client=world.client_a1, actor=world.user_a1, state=state)
        assert "state" in error.value.message_dict
    with pytest.raises(ValidationError):  # an operator has no line: no do-not-disturb of theirs
        presence.presence_set(client=world.client_a1, actor=world.client_a1_op, state="dnd")


def test_a_busy_line_in_the_call_index_is_on_a_call(world):
    get_redis().hset(where_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk), "line:102", "engine-x")
    states = _states(world)
    assert states[world.user_a1b.pk] == "on_call"
    assert states[world.user_a1.pk] == "offline"


def test_publish_tells_only_what_changed(world):
    client = world.client_a1
    first = presence.presence_publish(client)
    assert first[world.user_a1.pk] == "offline"
    assert presence.presence_publish(client) == {}
    presence.socket_opened(client.pk, world.user_a1.pk, "chan-1")
    assert presence.presence_publish(client) == {world.user_a1.pk: "available"}


def test_the_directory_lists_the_clients_people_only(world):
    people = presence.colleagues(world.client_a1)
    ids = {p["id"] for p in people}
    assert {world.user_a1.pk, world.user_a1b.pk, world.user_a1c.pk, world.client_a1_op.pk} <= ids
    assert world.user_b1.pk not in ids and world.client_a2_op.pk not in ids
    [mine] = [p for p in people if p["id"] == world.user_a1.pk]
    assert (mine["extension"], mine["presence"]) == ("101", "offline")
