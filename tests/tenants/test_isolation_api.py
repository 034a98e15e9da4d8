"""Isolation matrix through the API: another scope's rows answer 404 and nothing changes.

For every acting role below god (god's scope is everything), every object type the API exposes,
and list / detail / update / delete: the other scope's object is absent from lists, its detail,
update and delete answer 404, and the row is unchanged afterwards.
"""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from conferencing.models import Campaign, Message, Room
from conferencing.notifications import campaign_create, message_create
from conferencing.services import room_create
from telephony.models import Extension, Forwarding
from tenants.models import ApiToken, Brand, Client, User
from tenants.services import token_create

# (actor, object type, the foreign object's owner) -- each actor against the objects it must not reach.
CASES = [
    ("brand_a_op", "brands", "brand_b"),
    ("brand_a_op", "clients", "client_b1"),
    ("brand_a_op", "operators", "brand_b_op"),
    ("brand_a_op", "operators", "client_b1_op"),
    ("brand_a_op", "tokens", "brand_b_op"),
    ("client_a1_op", "brands", "brand_a"),
    ("client_a1_op", "clients", "client_a2"),
    ("client_a1_op", "clients", "client_b1"),
    ("client_a1_op", "operators", "client_a2_op"),
    ("client_a1_op", "operators", "brand_a_op"),
    ("client_a1_op", "users", "user_b1"),
    ("client_a1_op", "tokens", "client_a2_op"),
    ("user_a1", "brands", "brand_a"),
    ("user_a1", "clients", "client_b1"),
    ("user_a1", "operators", "client_a1_op"),
    ("user_a1", "users", "user_a1b"),
    ("user_a1", "users", "user_b1"),
    ("user_a1", "tokens", "user_a1b"),
    ("brand_a_op", "rooms", "user_a1"),
    ("client_a1_op", "rooms", "user_b1"),
    ("client_a2_op", "rooms", "user_a1"),
    ("user_a1", "rooms", "user_a1b"),
    ("user_a1", "rooms", "user_b1"),
    ("brand_a_op", "messages", "user_a1"),
    ("client_a1_op", "messages", "user_b1"),
    ("client_a2_op", "messages", "client_a1_op"),
    ("user_a1", "messages", "user_a1b"),
    ("user_a1", "messages", "client_a1_op"),
    ("user_a1", "messages", "user_b1"),
    ("brand_a_op", "campaigns", "user_a1"),
    ("client_a1_op", "campaigns", "user_b1"),
    ("client_a2_op", "campaigns", "client_a1_op"),
    ("user_a1", "campaigns", "user_a1b"),
    ("user_a1", "campaigns", "client_a1_op"),
    ("user_a1", "campaigns", "user_b1"),
    ("brand_a_op", "recordings", "user_a1"),
    ("client_a1_op", "recordings", "user_b1"),
    ("client_a2_op", "recordings", "client_a1_op"),
    ("user_a1", "recordings", "user_a1b"),
    ("user_a1", "recordings", "client_a1_op"),
    ("user_a1", "recordings", "user_b1"),
    ("brand_a_op", "menus", "client_a1_op"),
    ("client_a1_op", "menus", "client_b1_op"),
    ("client_a2_op", "menus", "client_a1_op"),
    ("user_a1", "menus", "client_a1_op"),
    ("brand_a_op", "queues", "client_a1_op"),
    ("client_a1_op", "queues", "client_b1_op"),
    ("client_a2_op", "queues", "client_a1_op"),
    ("user_a1", "queues", "client_a1_op"),
    ("brand_a_op", "queues/agents", "user_a1"),
    ("client_a1_op", "queues/agents", "user_b1"),
    ("client_a2_op", "queues/agents", "user_a1"),
    ("user_a1", "queues/agents", "user_a1b"),
    ("user_a1", "queues/agents", "user_b1"),
    ("brand_a_op", "ring-groups", "client_a1_op"),
    ("client_a1_op", "ring-groups", "client_b1_op"),
    ("client_a2_op", "ring-groups", "client_a1_op"),
    ("user_a1", "ring-groups", "client_a1_op"),
    ("brand_a_op", "routes", "client_a1_op"),
    ("client_a1_op", "routes", "client_b1_op"),
    ("client_a2_op", "routes", "client_a1_op"),
    ("user_a1", "routes", "client_a1_op"),
    ("brand_a_op", "widgets", "client_a1_op"),
    ("client_a1_op", "widgets", "client_b1_op"),
    ("client_a2_op", "widgets", "client_a1_op"),
    ("user_a1", "widgets", "client_a1_op"),
    ("brand_a_op", "chat/widgets", "client_a1_op"),
    ("client_a1_op", "chat/widgets", "client_b1_op"),
    ("client_a2_op", "chat/widgets", "client_a1_op"),
    ("user_a1", "chat/widgets", "client_a1_op"),
    ("brand_a_op", "voicemail/boxes", "user_a1"),
    ("client_a1_op", "voicemail/boxes", "user_b1"),
    ("client_a2_op", "voicemail/boxes", "user_a1"),
    ("user_a1", "voicemail/boxes", "user_a1b"),
    ("user_a1", "voicemail/boxes", "user_b1"),
    ("brand_a_op", "voicemail/messages", "user_a1"),
    ("client_a1_op", "voicemail/messages", "user_b1"),
    ("client_a2_op", "voicemail/messages", "user_a1"),
    ("user_a1", "voicemail/messages", "user_a1b"),
    ("user_a1", "voicemail/messages", "user_b1"),
    # (a conversation of the owner and a colleague: nobody else's, the client's operators' neither)
    ("brand_a_op", "im/conversations", "user_a1"),
    ("client_a1_op", "im/conversations", "user_a1b"),
    ("client_a1_op", "im/conversations", "user_b1"),
    ("client_a2_op", "im/conversations", "user_a1"),
    ("user_a1", "im/conversations", "user_a1b"),
    ("user_a1", "im/conversations", "user_b1"),
    ("brand_a_op", "chat/conversations", "client_a1_op"),
    ("client_a1_op", "chat/conversations", "client_b1_op"),
    ("client_a2_op", "chat/conversations", "client_a1_op"),
    ("user_a1", "chat/conversations", "user_a1b"),  # a chat a colleague answered
    ("user_a1", "chat/conversations", "client_a1_op"),  # a chat nobody answered yet
    ("user_a1", "chat/conversations", "user_b1"),
    ("brand_a_op", "chat/canned", "client_a1_op"),
    ("client_a1_op", "chat/canned", "client_b1_op"),
    ("client_a2_op", "chat/canned", "client_a1_op"),
    ("user_a1", "chat/canned", "client_a1_op"),
    *[
        (actor, kind, owner)
        for kind in ("webhooks", "webhooks/deliveries", "webhooks/routing")
        for actor, owner in (
            ("brand_a_op", "client_a1_op"),
            ("client_a1_op", "client_b1_op"),
            ("client_a2_op", "client_a1_op"),
            ("user_a1", "client_a1_op"),
        )
    ],
]
# What else each object type answers on its own URL (all must be 404 for a foreign row).
MORE = {
    "users": [
        ("get", "/api/v1/users/{pk}/forwarding/"),
        ("put", "/api/v1/users/{pk}/forwarding/"),
        ("patch", "/api/v1/users/{pk}/forwarding/"),
        ("get", "/api/v1/users/{pk}/recording/"),
        ("put", "/api/v1/users/{pk}/recording/"),
        ("patch", "/api/v1/users/{pk}/recording/"),
    ],
    "rooms": [("get", "/api/v1/rooms/{pk}/live/"), ("post", "/api/v1/rooms/{pk}/live/")],
    "voicemail/boxes": [  # the box's greetings: listened to, uploaded, removed
        ("get", "/api/v1/voicemail/boxes/{pk}/greetings/unavailable/"),
        ("put", "/api/v1/voicemail/boxes/{pk}/greetings/unavailable/"),
        ("delete", "/api/v1/voicemail/boxes/{pk}/greetings/unavailable/"),
    ],
    "voicemail/messages": [("get", "/api/v1/voicemail/messages/{pk}/audio.wav")],
    "campaigns": [
        ("post", "/api/v1/campaigns/{pk}/start/"),
        ("get", "/api/v1/campaigns/{pk}/report.csv"),
        ("get", "/api/v1/campaigns/{pk}/?format=csv"),
    ],
    "recordings": [("get", "/api/v1/recordings/{pk}/audio/")],
    "queues": [  # the queue's statistics (valid days: only the row's scope can answer 404)
        ("get", "/api/v1/queues/{pk}/stats/?from=2026-01-01&to=2026-01-31"),
        ("get", "/api/v1/queues/{pk}/stats/agents/?from=2026-01-01&to=2026-01-31"),
        ("get", "/api/v1/queues/{pk}/stats/?from=2026-01-01&to=2026-01-31&format=csv"),
    ],
    "queues/agents": [
        ("post", "/api/v1/queues/agents/{pk}/login/"),
        ("post", "/api/v1/queues/agents/{pk}/logout/"),
        ("post", "/api/v1/queues/agents/{pk}/pause/"),
        ("post", "/api/v1/queues/agents/{pk}/unpause/"),
        ("post", "/api/v1/queues/agents/{pk}/chat/"),
    ],
    "webhooks": [("post", "/api/v1/webhooks/{pk}/rotate-secret/")],
    "im/conversations": [
        ("get", "/api/v1/im/conversations/{pk}/messages/"),
        ("post", "/api/v1/im/conversations/{pk}/messages/"),
        ("post", "/api/v1/im/conversations/{pk}/read/"),
    ],
    "webhooks/deliveries": [("post", "/api/v1/webhooks/deliveries/{pk}/replay/")],
}
MORE_BODIES = {
    "post": {"action": "end", "body": "hijacked"},
    "put": {"dnd": True},
    "patch": {"dnd": True},
    "delete": None,
}
# Nobody updates or deletes these (405 whatever the row): there is nothing to probe.
NOT_UPDATED = {"tokens", "messages", "campaigns", "recordings", "queues/agents", "webhooks/deliveries",
               "im/conversations", "chat/conversations"}  # fmt: skip
NOT_DELETED = {"campaigns", "recordings", "queues/agents", "webhooks/deliveries", "im/conversations",
               "chat/conversations"}  # fmt: skip


def _foreign(world, kind: str, owner_name: str):
    """(id, a snapshot function, strings that must never appear in the actor's answers)."""
    owner = getattr(world, owner_name)
    if kind == "brands":
        return owner.pk, lambda: Brand.objects.filter(pk=owner.pk).values().first(), [owner.domain]
    if kind == "clients":
        return owner.pk, lambda: Client.objects.filter(pk=owner.pk).values().first(), [owner.sip_domain]
    if kind == "operators":
        return owner.pk, lambda: User.objects.filter(pk=owner.pk).values().first(), [owner.email]
    if kind == "tokens":
        token, _ = token_create(actor=owner, name="foreign")
        return token.pk, lambda: ApiToken.objects.filter(pk=token.pk).values().first(), [token.prefix]
    if kind == "users":
        extension = world.extension_of(owner)

        def snapshot():
            with tenant_context(owner.client):
                line = Extension.objects.filter(pk=extension.pk).values().first()
                return line, Forwarding.objects.filter(extension_id=extension.pk).values().first()

        return extension.pk, snapshot, [owner.email, extension.sip_username + "@", owner.client.sip_domain]
    if kind == "rooms":  # a room the owner moderates
        room = room_create(actor=owner, client=owner.client, name="Foreign room", conference_id="735190468",
                           participant_pin="24681357", moderator_pin="13579246")  # fmt: skip

        def snapshot():
            with tenant_context(owner.client):
                return Room.objects.filter(pk=room.pk).values().first()

        return room.pk, snapshot, ["Foreign room", room.conference_id, room.participant_pin, room.moderator_pin]
    if kind in ("messages", "campaigns"):  # a message (with a campaign that plays it) the owner made
        message = message_create(actor=owner, client=owner.client, name="Foreign message")
        with tenant_context(owner.client):
            Message.objects.filter(pk=message.pk).update(recorded=True, seconds=1.0)
            message.recorded = True
        campaign = campaign_create(actor=owner, client=owner.client, name="Foreign campaign", message=message,
                                   numbers="101")  # fmt: skip
        row = message if kind == "messages" else campaign

        def snapshot():
            with tenant_context(owner.client):
                return (Message.objects.filter(pk=message.pk).values().first(),
                        Campaign.objects.filter(pk=campaign.pk).values().first(),
                        list(campaign.targets.values()))  # fmt: skip

        return row.pk, snapshot, ["Foreign message", "Foreign campaign"]
    if kind == "recordings":  # a recording of the owner's call, in a client whose users hear their own
        return _foreign_recording(owner)
    if kind.startswith("voicemail/"):  # the owner's box, named, with a greeting and a message in it
        return _foreign_voicemail(owner, kind)
    if kind == "menus":  # a menu of the owner's client, with a key
        return _foreign_menu(owner)
    if kind == "queues":  # a queue of the owner's client, with a member
        return _foreign_queue(owner)
    if kind == "queues/agents":  # the owner's line, a queue's member, logged in and paused
        return _foreign_agent(world, owner)
    if kind == "ring-groups":  # a ring group of the owner's client, with a member
        return _foreign_ring_group(owner)
    if kind == "routes":  # a rule set of the owner's client, with a rule
        return _foreign_rule_set(owner)
    if kind == "widgets":  # a click-to-call widget of the owner's client (its key is a secret too)
        return _foreign_widget(owner)
    if kind == "chat/widgets":  # a chat widget of the owner's client (its key and identity secret too)
        return _foreign_chat_widget(owner)
    if kind.startswith("webhooks"):  # an endpoint with a delivery, and a routing webhook, of the owner's client
        return _foreign_webhook(owner, kind)
    if kind == "im/conversations":  # the owner's conversation with a colleague, with a message
        return _foreign_conversation(world, owner)
    if kind.startswith("chat/"):  # a chat the owner answered (an operator: nobody yet), a canned answer
        return _foreign_chat(owner, kind)
    raise AssertionError(kind)


def _foreign_conversation(world, owner):
    from im.models import Conversation
    from im.models import Member as ImMember
    from im.models import Message as ImMessage

    colleague = {"user_a1": world.user_a1b, "user_a1b": world.user_a1c, "user_b1": world.client_b1_op}[
        next(name for name in ("user_a1", "user_a1b", "user_b1") if getattr(world, name) == owner)
    ]
    with tenant_context(owner.client):  # (ids far from the actor's own, as for recordings below)
        conversation = Conversation.objects.create(pk=900000 + owner.pk, kind="group", title="Foreign chat",
                                                   created_by=owner)  # fmt: skip
        for account in (owner, colleague):
            ImMember.objects.create(conversation=conversation, account=account)
        ImMessage.objects.create(conversation=conversation, sender=owner, body="Foreign chat words")

    def snapshot():
        with tenant_context(owner.client):
            return (Conversation.objects.filter(pk=conversation.pk).values().first(),
                    list(ImMember.objects.filter(conversation=conversation).values()),
                    list(ImMessage.objects.filter(conversation=conversation).values()))  # fmt: skip

    return conversation.pk, snapshot, ["Foreign chat"]


def _foreign_chat(owner, kind: str):
    from chat.models import CannedAnswer, Conversation
    from chat.models import Message as ChatMessage

    with tenant_context(owner.client):  # (ids far from the actor's own, as for recordings below)
        conversation = Conversation.objects.create(
            pk=900000 + owner.pk, visitor_key="f" * 64, visitor_name="Foreign visitor", state="active",
            agent_id=owner.pk if owner.role == "user" else None, agent_name="Foreign agent",
        )  # fmt: skip
        ChatMessage.objects.create(conversation=conversation, sender="visitor", body="foreign-chat-line")
        canned = CannedAnswer.objects.create(pk=900000 + owner.pk, title="Foreign canned", shortcut="foreign",
                                             body="foreign-canned-text")  # fmt: skip

    def snapshot():
        with tenant_context(owner.client):
            return (Conversation.objects.filter(pk=conversation.pk).values().first(),
                    list(ChatMessage.objects.filter(conversation=conversation).values()),
                    CannedAnswer.objects.filter(pk=canned.pk).values().first())  # fmt: skip

    row = conversation if kind == "chat/conversations" else canned
    return row.pk, snapshot, ["Foreign visitor", "foreign-chat-line", "Foreign canned", "foreign-canned-text"]


def _foreign_menu(owner):
    from menus.models import Menu, Option
    from menus.services import menu_save

    menu = menu_save(actor=owner, client=owner.client, name="Foreign menu", greeting_prompt="closed",
                     options=[{"key": "7", "destination_kind": "hangup", "destination_target": "goodbye"}])  # fmt: skip

    def snapshot():
        with tenant_context(owner.client):
            return Menu.objects.filter(pk=menu.pk).values().first(), list(Option.objects.filter(menu=menu).values())

    return menu.pk, snapshot, ["Foreign menu"]


def _foreign_queue(owner):
    from queues.models import Member, Queue
    from queues.services import queue_save

    with tenant_context(owner.client):
        first = Extension.objects.order_by("number").first()
    queue = queue_save(actor=owner, client=owner.client, name="Foreign queue", members=[{"extension": first.number}])

    def snapshot():
        with tenant_context(owner.client):
            return Queue.objects.filter(pk=queue.pk).values().first(), list(Member.objects.filter(queue=queue).values())

    return queue.pk, snapshot, ["Foreign queue"]


def _foreign_agent(world, owner):
    from queues.models import Agent, Member, Queue
    from queues.services import agent_login, agent_pause

    extension = world.extension_of(owner)
    with tenant_context(owner.client):
        queue = Queue.objects.create(name=f"Foreign agents queue {owner.pk}")
        Member.objects.create(queue=queue, extension=extension)
    agent_login(actor=None, client=owner.client, extension=extension)
    agent_pause(actor=None, client=owner.client, extension=extension, reason="foreign-reason")

    def snapshot():
        with tenant_context(owner.client):
            return (list(Member.objects.filter(extension=extension).values()),
                    Agent.objects.filter(extension=extension).values().first())  # fmt: skip

    return extension.pk, snapshot, ["Foreign agents queue", "foreign-reason"]


def _foreign_ring_group(owner):
    from ringgroups.models import Member, RingGroup
    from ringgroups.services import ring_group_save

    group = ring_group_save(actor=owner, client=owner.client, name="Foreign group", ring_time=7,
                            members=[{"kind": "external", "target": "+4930901234"}])  # fmt: skip

    def snapshot():
        with tenant_context(owner.client):
            return RingGroup.objects.filter(pk=group.pk).values().first(), list(
                Member.objects.filter(group=group).values()
            )

    return group.pk, snapshot, ["Foreign group", "+4930901234"]


def _foreign_rule_set(owner):
    from menus.models import Rule, RuleSet
    from menus.routing import route_save

    rule_set = route_save(actor=owner, client=owner.client, name="Foreign rule set", default_kind="hangup",
                          rules=[{"callers": "1XX", "destination_kind": "hangup",
                                  "destination_target": "goodbye"}])  # fmt: skip

    def snapshot():
        with tenant_context(owner.client):
            return (RuleSet.objects.filter(pk=rule_set.pk).values().first(),
                    list(Rule.objects.filter(rule_set=rule_set).values()))  # fmt: skip

    return rule_set.pk, snapshot, ["Foreign rule set"]


def _foreign_widget(owner):
    from telephony.models import Widget
    from telephony.widgets import widget_save

    with tenant_context(owner.client):
        extension = Extension.objects.order_by("number").first()
    widget = widget_save(actor=owner, client=owner.client, name="Foreign widget", destination_target=extension.number,
                         origins="https://foreign.example.com")  # fmt: skip

    def snapshot():
        with tenant_context(owner.client):
            return Widget.objects.filter(pk=widget.pk).values().first()

    return widget.pk, snapshot, ["Foreign widget", widget.key, "foreign.example.com"]


def _foreign_chat_widget(owner):
    from chat.models import ChatWidget
    from chat.widgets import widget_save
    from queues.services import queue_save

    queue = queue_save(actor=owner, client=owner.client, name="Foreign chat queue")
    widget = widget_save(actor=owner, client=owner.client, name="Foreign chat widget", queue=queue.pk,
                         origins="https://foreign-chat.example.com")  # fmt: skip

    def snapshot():
        with tenant_context(owner.client):
            return ChatWidget.objects.filter(pk=widget.pk).values().first()

    return widget.pk, snapshot, ["Foreign chat widget", widget.key, widget.identity_secret, "foreign-chat.example.com"]


def _foreign_webhook(owner, kind: str):
    from webhooks.models import Attempt, Delivery, Endpoint, RoutingWebhook

    with tenant_context(owner.client):  # (ids far from the actor's own, as for recordings below)
        endpoint = Endpoint.objects.create(pk=900000 + owner.pk, url="https://foreign-hook.example.com/in",
                                           events=["call.ended"])  # fmt: skip
        delivery = Delivery.objects.create(pk=900000 + owner.pk, endpoint=endpoint, event_type="call.ended",
                                           payload={"data": {"caller": "5550177"}})  # fmt: skip
        Attempt.objects.create(delivery=delivery, status_code=500, error="foreign-error")
        routing = RoutingWebhook.objects.create(pk=900000 + owner.pk, name="Foreign routing",
                                                url="https://foreign-route.example.com/")  # fmt: skip

    def snapshot():
        with tenant_context(owner.client):
            return (Endpoint.objects.filter(pk=endpoint.pk).values().first(),
                    list(Delivery.objects.filter(pk=delivery.pk).values()), list(Attempt.objects.values()),
                    RoutingWebhook.objects.filter(pk=routing.pk).values().first())  # fmt: skip

    row = {"webhooks": endpoint, "webhooks/deliveries": delivery, "webhooks/routing": routing}[kind]
    return row.pk, snapshot, ["foreign-hook", "5550177", "foreign-error", "Foreign routing", endpoint.secret,
                              routing.secret]  # fmt: skip


def _foreign_recording(owner):
    """A recording (row and file) of the owner's call; its client lets users hear their own calls'."""
    import datetime as dt
    from pathlib import Path

    from django.conf import settings

    from recordings.models import Recording, RecordingPolicy

    file = f"{owner.client_id}/isolation/foreign-{owner.pk}.wav"
    path = Path(settings.OCX_RECORDINGS_DIR) / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF-foreign-recording")
    with tenant_context(owner.client):
        RecordingPolicy.objects.update_or_create(pk=1, defaults={"users_listen": True})
        recording = Recording.objects.create(pk=900000 + owner.pk, call_uuid=None, caller="5550199",
                                             callee="5550188", started_at=dt.datetime.now(dt.UTC),
                                             ended_at=dt.datetime.now(dt.UTC), seconds=3, file=file,
                                             accounts=[owner.pk])  # fmt: skip

    def snapshot():
        with tenant_context(owner.client):
            return Recording.objects.filter(pk=recording.pk).values().first(), path.read_bytes()

    return recording.pk, snapshot, ["5550199", "5550188", "foreign-recording"]


def _foreign_voicemail(owner, kind: str):
    import datetime as dt

    from voicemail.models import Mailbox
    from voicemail.models import Message as VoicemailMessage

    with tenant_context(owner.client):
        # Ids far from the actor's own (each client's schema counts from 1: the owner's box may share
        # its id with one of the actor's, which the actor rightly sees), as for recordings above.
        VoicemailMessage.objects.filter(mailbox__extension__account_id=owner.pk).delete()  # (engine tests' leftovers)
        Mailbox.objects.filter(extension__account_id=owner.pk).update(id=900000 + owner.pk)
        box = Mailbox.objects.get(extension__account_id=owner.pk)
        Mailbox.objects.filter(pk=box.pk).update(name="Foreign box", greeting_unavailable=f"{box.pk}/foreign.wav")
        message = VoicemailMessage.objects.create(pk=900000 + owner.pk, mailbox=box, caller_number="5559876",
                                                  caller_name="Foreign caller",
                                                  received_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC), seconds=2.0,
                                                  file=f"{box.pk}/foreign-{owner.pk}.wav")  # fmt: skip

    def snapshot():
        with tenant_context(owner.client):
            return (Mailbox.objects.filter(pk=box.pk).values().first(),
                    VoicemailMessage.objects.filter(pk=message.pk).values().first())  # fmt: skip

    row = box if kind == "voicemail/boxes" else message
    return row.pk, snapshot, ["Foreign box", "Foreign caller", "5559876"]


@pytest.mark.parametrize(("actor_name", "kind", "owner_name"), CASES)
def test_foreign_objects_answer_404_and_stay_unchanged(world, api, actor_name, kind, owner_name):
    actor = getattr(world, actor_name)
    http = api(actor)
    pk, snapshot, secrets = _foreign(world, kind, owner_name)
    before = snapshot()
    assert before is not None

    listing = http.get(f"/api/v1/{kind}/", {"page_size": 500})
    assert listing.status_code == 200
    body = listing.content.decode()
    for text in secrets:
        assert text not in body

    detail = http.get(f"/api/v1/{kind}/{pk}/")
    assert detail.status_code == 404
    assert detail.json()["code"] == "not-found"
    if kind not in NOT_UPDATED:
        patch = http.patch(f"/api/v1/{kind}/{pk}/", {"name": "hijacked"}, format="json")
        assert patch.status_code == 404
    if kind not in NOT_DELETED:
        delete = http.delete(f"/api/v1/{kind}/{pk}/")
        assert delete.status_code == 404
    for method, url in MORE.get(kind, []):
        response = getattr(http, method)(url.format(pk=pk), MORE_BODIES.get(method))
        assert response.status_code == 404, (method, url, response.status_code)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("actor_name", "other_host_of"),
    [
        ("brand_a_op", "brand_b_op"),
        ("client_a1_op", "client_b1_op"),
        ("user_a1", "client_a2_op"),
        ("client_a1_op", "brand_a_op"),
        ("brand_a_op", "god"),
    ],
)
def test_a_token_only_works_on_its_own_portal_host(world, api, actor_name, other_host_of):
    actor = getattr(world, actor_name)
    foreign_host = world.host_of(getattr(world, other_host_of))
    response = api(actor, host=foreign_host).get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication-failed"
    assert api(actor).get("/api/v1/me/").json()["email"] == actor.email


def test_god_sees_every_brand_and_client(world, api):
    http = api(world.god)
    brands = {b["domain"] for b in http.get("/api/v1/brands/").json()["results"]}
    clients = {c["sip_domain"] for c in http.get("/api/v1/clients/").json()["results"]}
    assert {world.brand_a.domain, world.brand_b.domain} <= brands
    assert {world.client_a1.sip_domain, world.client_a2.sip_domain, world.client_b1.sip_domain} <= clients


def test_brand_lists_hold_only_its_own_clients(world, api):
    clients = {c["slug"] for c in api(world.brand_a_op).get("/api/v1/clients/").json()["results"]}
    assert clients == {world.client_a1.slug, world.client_a2.slug}
