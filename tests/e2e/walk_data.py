"""One object of each kind the portals' main tasks open (a carrier, a number, a route, a rate deck and a
plan, a push destination, a room, a library message and a campaign, a voicemail message in Bob's box
and a recording of one of his calls, their audio files with them), added to the end-to-end platform's
demo data through the services, as the portals would: `python -m tests.e2e.walk_data` with that
platform's environment. Idempotent, so the browser tests may run it more than once."""

from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path


def _tone() -> io.BytesIO:
    """Half a second of 440 Hz, 8 kHz mono WAV: a message's audio."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(
            b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / 8000))) for n in range(4000))
        )
    buffer.seek(0)
    buffer.name = "tone.wav"
    return buffer


def seed() -> None:
    from django.db import transaction
    from django_tenants.utils import tenant_context

    from billing.models import Carrier, PricingPlan, RateDeck
    from billing.services import carrier_create, deck_create, plan_set
    from conferencing.models import Campaign, Message, Room
    from conferencing.notifications import campaign_create, message_create
    from conferencing.services import room_create
    from exports.models import PushDestination
    from exports.services import push_destination_create
    from pstn.models import Number, OutboundRoute
    from pstn.services.numbers import number_create
    from pstn.services.routes import outbound_route_create
    from tenants.models import Brand, Client, User

    god = User.objects.get(email="god@opencentrex.example")
    brand_op = User.objects.get(email="ops@brand.example")
    client_op = User.objects.get(email="admin@acme.example")
    brand = Brand.objects.get(domain="brand.localhost")
    client = Client.objects.get(brand=brand, slug="acme")
    with transaction.atomic():
        carrier = Carrier.objects.filter(name="Walk Trunk").first() or carrier_create(
            actor=brand_op, name="Walk Trunk", country="GB", number_format="national"
        )
        if not Carrier.objects.filter(name="Walk Platform Trunk").exists():
            carrier_create(actor=god, name="Walk Platform Trunk")
        if not Number.objects.filter(e164="+442079460777").exists():
            number_create(actor=brand_op, brand=brand, e164="+442079460777", carrier=carrier, client=client)
        if not OutboundRoute.objects.filter(brand=brand, name="Walk UK").exists():
            outbound_route_create(
                actor=brand_op, brand=brand, name="Walk UK", pattern="44", carriers=[{"carrier": carrier}]
            )
        deck = RateDeck.objects.filter(brand=brand, name="Walk Retail").first() or deck_create(
            actor=brand_op, brand=brand, name="Walk Retail"
        )
        if not PricingPlan.objects.filter(client=client).exists():
            plan_set(actor=brand_op, client=client, deck=deck)
        if not PushDestination.objects.filter(name="Walk Archive").exists():
            push_destination_create(actor=brand_op, secret="walk-secret-1", brand=brand, name="Walk Archive",
                                    protocol="sftp", host="192.0.2.50", username="walk")  # fmt: skip
    with tenant_context(client):
        exists = Room.objects.filter(name="Walk Room").exists()
        message = Message.objects.filter(name="Walk Message").first()
        campaign = Campaign.objects.filter(name="Walk Campaign").exists()
    if not exists:
        room_create(actor=client_op, client=client, moderator=User.objects.get(email="bob@acme.example"),
                    name="Walk Room")  # fmt: skip
    if message is None:
        message = message_create(actor=client_op, client=client, name="Walk Message", upload=_tone())
    if not campaign:
        campaign_create(actor=client_op, client=client, name="Walk Campaign", message=message, numbers="101\n102")
    _voicemail_and_recording(client, client_op, User.objects.get(email="bob@acme.example"))
    _call_flow(client, client_op)
    _chat(client, User.objects.get(email="alice@acme.example"), User.objects.get(email="bob@acme.example"))


def _call_flow(client, client_op) -> None:
    """A menu, a rule set, a ring group, a queue with Bob (102) in it and a click-to-call widget."""
    from django_tenants.utils import tenant_context

    from menus.models import Menu, RuleSet
    from menus.routing import route_save
    from menus.services import menu_save
    from queues.models import Queue
    from queues.services import queue_save
    from ringgroups.models import RingGroup
    from ringgroups.services import ring_group_save
    from telephony.models import Widget
    from telephony.widgets import widget_save

    scope = {"actor": client_op, "client": client}
    with tenant_context(client):
        have = {model: model.objects.filter(name__startswith="Walk").exists()
                for model in (Menu, RuleSet, RingGroup, Queue, Widget)}  # fmt: skip
    if not have[Menu]:
        menu_save(**scope, name="Walk Menu", timeout_kind="hangup",
                  options=[{"key": "1", "destination_kind": "user", "destination_target": "102"}])  # fmt: skip
    if not have[RuleSet]:
        rule = {"callers": ["+4420X."], "destination_kind": "user", "destination_target": "102"}
        route_save(**scope, name="Walk Rules", default_kind="user", default_target="101", rules=[rule])
    if not have[RingGroup]:
        ring_group_save(**scope, name="Walk Group", members=[{"kind": "user", "target": "101"},
                                                             {"kind": "user", "target": "102"}])  # fmt: skip
    if not have[Queue]:
        queue_save(**scope, name="Walk Queue", members=[{"extension": "102", "penalty": 0, "order": 1}])
    if not have[Widget]:
        widget_save(**scope, name="Walk Widget", destination_kind="user", destination_target="102",
                    origins="https://a-rather-long-shop-name.example.com")  # fmt: skip


def _chat(client, alice, bob) -> None:
    """A conversation of Alice and Bob with a long line in it (it must wrap on a phone)."""
    from django_tenants.utils import tenant_context

    from im.models import Message
    from im.services import message_send

    with tenant_context(client):
        if Message.objects.filter(body__startswith="Walk ").exists():
            return
    message_send(client=client, sender=alice, to_users=[bob], body="Walk " + "long-word-" * 30 + "\nsecond line")


def _voicemail_and_recording(client, client_op, bob) -> None:
    """A message left in Bob's box (as the engine keeps one: its file, then its row) and a recording of a
    call of his, with the client letting users listen to their own."""
    import datetime as dt
    import uuid

    from django.conf import settings
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from recordings.models import Recording
    from recordings.services import policy_of, policy_update
    from voicemail.models import Mailbox, Message, box_directory, voicemail_dir
    from voicemail.services import message_deposit

    now = timezone.now()
    with tenant_context(client):
        box = Mailbox.objects.get(extension__account=bob)
        left = Message.objects.filter(mailbox=box, caller_name="Walk Caller").exists()
        recorded = Recording.objects.filter(caller="walk").exists()
    if not policy_of(client).users_listen:
        policy_update(actor=client_op, client=client, users_listen=True)
    if not left:
        path = box_directory(client.pk, box.pk) / f"walk-{uuid.uuid4().hex[:8]}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_tone().getvalue())
        message_deposit(client.pk, box.pk, str(path.relative_to(voicemail_dir())), caller_number="+442079460123",
                        caller_name="Walk Caller", call_uuid=None, received_at=now, seconds=0.5)  # fmt: skip
    if not recorded:
        file = f"{client.pk}/walk-{uuid.uuid4().hex[:8]}.wav"
        path = Path(settings.OCX_RECORDINGS_DIR) / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_tone().getvalue())
        with tenant_context(client):
            Recording.objects.create(caller="walk", callee="102", started_at=now - dt.timedelta(seconds=1),
                                     ended_at=now, seconds=0.5, file=file, accounts=[bob.pk])  # fmt: skip


if __name__ == "__main__":
    import django

    django.setup()
    seed()
