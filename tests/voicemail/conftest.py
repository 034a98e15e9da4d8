"""Voicemail's fixtures: a directory of the test's for the boxes' files, and messages as callers leave
them (a WAV of a tone and its row)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from tests.sip.audio import tone_file
from voicemail.models import Mailbox, Message, box_directory


@pytest.fixture
def vm_dir(settings, tmp_path) -> Path:
    settings.OCX_VOICEMAIL_DIR = str(tmp_path / "voicemail")
    return tmp_path / "voicemail"


@pytest.fixture
def left_message(vm_dir):
    """left_message(client, number, caller_number="5551234", **fields) -> a message in box `number`,
    with its audio (a 600 Hz tone of `seconds`)."""
    made = [0]

    def make(client, number: str, *, caller_number: str = "5551234", seconds: float = 1.0, **fields) -> Message:
        made[0] += 1
        with tenant_context(client):
            box = Mailbox.objects.get(number=number)
            path = tone_file(box_directory(client.pk, box.pk) / f"msg-{made[0]}.wav", 600, seconds)
            return Message.objects.create(
                mailbox=box, caller_number=caller_number, received_at=timezone.now() - dt.timedelta(minutes=made[0]),
                seconds=seconds, file=str(path.relative_to(vm_dir)), **fields)  # fmt: skip

    return make


@pytest.fixture(autouse=True)
def _no_messages_left_by_engines(world):
    """Client a1's boxes start empty in this test's transaction: messages the engine tests' callers left
    are committed by their engines (a menu's caller that hung up in 102's box has its row written after
    that test ended), outside any test's transaction."""
    with tenant_context(world.client_a1):
        Message.objects.all().delete()
