"""Voicemail with real phones (pjsua2) through the edge and a real engine: 101 calls 102, whose
forwarding sends the call to 102's box; the box's greeting is the one the forwarding calls for (its
greetings here are tones: 850 Hz unavailable, 1300 Hz busy), the caller's 600 Hz tone is the message.
Its owner hears it back by phone (*97), with the tone intact, and saves, deletes or calls back by key.

The engine writes the rows with its own database connection, so what the tests set up is committed
(`committed`) and put back at the end; the files live in a directory of this module's."""

from __future__ import annotations

import datetime as dt
import struct
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from django_tenants.utils import tenant_context

from config.redis_store import get_redis, rkey
from records.models import Cdr
from telephony.media import codecs
from telephony.media.dtmf import digit_train
from telephony.models import Forwarding
from tests.sip.audio import heard_ms, longest_heard_ms, read_wav, tone_file, tone_power
from tests.telephony.conftest import cdr_of
from tests.telephony.test_call_end import RawCall, bye_within
from tests.waiting import committed, wait_for
from voicemail.models import Mailbox, Message, box_directory

VOICEMAIL_DIR = Path(tempfile.mkdtemp(prefix="ocx-test-voicemail-"))
ENGINE_SETTINGS = {"OCX_VOICEMAIL_DIR": str(VOICEMAIL_DIR)}
UNAVAILABLE, BUSY, SPOKEN = 850, 1300, 600  # Hz: the two greetings, what the caller says
MOBILE = "+16502530001"  # an outside caller, reached through a carrier that is a pjsua2 phone


@pytest.fixture(autouse=True)
def _voicemail(world, settings):
    """This module's voicemail directory; the boxes, forwardings and subscriptions as they were, afterwards.
    It starts with no message: one a caller of an earlier module left as it hung up is written by that
    module's engine after its test ended (test_menus.py's closed branch leads to 102's box)."""
    settings.OCX_VOICEMAIL_DIR = str(VOICEMAIL_DIR)

    def no_messages():
        with tenant_context(world.client_a1):
            Message.objects.all().delete()

    committed(no_messages)
    yield

    def put_back():
        with tenant_context(world.client_a1):
            Forwarding.objects.all().delete()
            Message.objects.all().delete()
            Mailbox.objects.filter(extension__isnull=True).delete()  # the shared boxes a test made
            Mailbox.objects.update(pin_hash="", greeting_unavailable="", greeting_busy="", greeting_name="",
                                   max_seconds=180, max_messages=100, operator_kind="", operator_target="")  # fmt: skip
        from telephony.directory import sip_directory_rooms_changed

        sip_directory_rooms_changed(world.client_a1)

    committed(put_back)
    for path in VOICEMAIL_DIR.glob("*/*/*"):
        path.unlink()
    # Message-waiting subscriptions live in Redis past their phones (and their engines): the next tests
    # start without them (a box with a subscriber gets no unsolicited NOTIFY).
    redis = get_redis()
    stale = list(redis.scan_iter(match=rkey("mwi", "*"), count=500))
    if stale:
        redis.delete(*stale)


def box_of(world, number: str) -> Mailbox:
    def read():
        with tenant_context(world.client_a1):
            return Mailbox.objects.get(number=number)

    return committed(read)


def set_box(world, number: str, **fields) -> Mailbox:
    """Change box `number` as its client's operator would (committed: the engine reads it)."""
    from voicemail.services import mailbox_save

    box = box_of(world, number)
    return committed(mailbox_save, actor=world.client_a1_op, client=world.client_a1, mailbox=box, **fields)


def with_greetings(world, number: str) -> Mailbox:
    """Box `number` with its unavailable and busy greetings (tones), as if recorded."""
    from voicemail.services import mailbox_greeting_recorded

    box = box_of(world, number)
    directory = box_directory(world.client_a1.pk, box.pk)
    for kind, freq in (("unavailable", UNAVAILABLE), ("busy", BUSY)):
        path = tone_file(directory / f"greeting-{kind}.wav", freq, 0.6)
        committed(mailbox_greeting_recorded, world.client_a1.pk, box.pk, kind, str(path.relative_to(VOICEMAIL_DIR)))
    return box


def forward(world, **fields):
    from telephony.services import forwarding_save

    extension = world.extension_of(world.user_a1b)
    return committed(lambda: forwarding_save(actor=None, client=world.client_a1, extension=extension, **fields))


def messages(world, number: str) -> list[Message]:
    def read():
        with tenant_context(world.client_a1):
            return list(Message.objects.filter(mailbox__number=number).order_by("received_at"))

    return committed(read)


def leave(caller, domain: str, *, end: str = "#", heard: Path | None = None, tone_ms: int = 2500,
          skip: bool = False, freq: int = SPOKEN, to: str = "102") -> None:  # fmt: skip
    """101 calls `to` and, once the box answered, says its tone (`freq`); `#`, or hangs up
    (end="hangup"). `skip`: a key first skips the greeting."""
    caller.call("c1", f"sip:{to}@{domain}")
    caller.wait_call_state("c1", "confirmed", timeout=20)
    if heard is not None:
        caller.record("c1", heard)
    if skip:
        caller.dtmf("c1", "1")
    caller.play_tone("c1", [freq], tone_ms)  # from the greeting on: its end is recorded after the beep
    caller.wait_tone_done("c1")
    if end == "#":
        caller.dtmf("c1", "#")
    else:
        caller.hangup("c1")
    caller.wait_call_state("c1", "disconnected", timeout=15)


@pytest.mark.parametrize(
    ("forwarding", "phone", "greeting"),
    [
        # (no answer and busy: test_messages_left_on_no_answer_and_busy_are_downloaded_and_heard_by_phone)
        ({"dnd": True, "busy_kind": "voicemail", "busy_target": "102"}, 200, "busy"),
        ({"unreachable_kind": "voicemail", "unreachable_target": "102"}, None, "unavailable"),
    ],
    ids=["do-not-disturb", "unreachable"],
)
def test_a_message_is_left_with_the_greeting_the_forwarding_calls_for(world, lines, tmp_path, forwarding, phone,
                                                                       greeting):  # fmt: skip
    caller, callee, domain = lines
    with_greetings(world, "102")
    forward(world, **forwarding)
    if phone is None:
        callee.unregister("102")  # no device: unreachable
    else:
        callee.set_incoming("102", answer=phone)
    heard = tmp_path / "caller-heard.wav"
    leave(caller, domain, heard=heard)
    caller.wait_recorded("c1")
    wanted, other = (BUSY, UNAVAILABLE) if greeting == "busy" else (UNAVAILABLE, BUSY)
    # (the spoken prompts after the message have a little of either tone: a greeting would be 600 ms of it)
    assert heard_ms(heard, wanted) >= 500 and heard_ms(heard, other) < 200, "the greeting the forwarding calls for"
    [message] = wait_for(lambda: messages(world, "102"), "the message's row", timeout=10)
    assert (message.caller_number, message.folder, message.heard) == ("101", "new", False)
    assert message.seconds >= 1.0 and message.path.exists()
    assert heard_ms(message.path, SPOKEN) >= 1000, "the caller's tone is in the message"
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.disposition, cdr.answered_by) == ("answered", "voicemail:102")
    assert [leg["greeting"] for leg in cdr.legs if leg.get("leg") == "voicemail"] == [greeting]
    assert str(message.call_uuid) == str(cdr.call_uuid)


def test_a_caller_who_hangs_up_mid_message_leaves_a_message_that_plays(world, lines):
    caller, callee, domain = lines
    forward(world, busy_kind="voicemail", busy_target="102")
    callee.set_incoming("102", answer=486)
    leave(caller, domain, end="hangup", skip=True)  # (the platform's own greeting, cut short by a key)
    [message] = wait_for(lambda: messages(world, "102"), "the message's row", timeout=10)
    assert heard_ms(message.path, SPOKEN) >= 1000 and message.seconds >= 1.0
    assert cdr_of(world, callee_number="102").hangup_side == "caller"


BEEP, BEEP_FRAMES = 1000, 15  # telephony/media/prompts.py TONES: 0.3 s of 1000 Hz


def say_at_the_beeps_end(raw, seconds: float) -> int:
    """A raw caller's RTP: silence until the beep's last frame arrives, then at once `seconds` of the
    SPOKEN tone and `#` (RFC 4733, type 101); the number of tone frames sent."""
    host = next(line.split()[-1] for line in raw.ok.body.splitlines() if line.startswith("c="))
    port = int(next(line.split()[1] for line in raw.ok.body.splitlines() if line.startswith("m=audio")))
    encode, decode = codecs.new_encoder("PCMU"), codecs.new_decoder("PCMU")
    sock, seq = raw.rtp, [0]

    def send(payload: bytes, pt: int = 0, ts: int | None = None) -> None:
        stamp = seq[0] * 160 if ts is None else ts
        sock.sendto(struct.pack("!BBHII", 0x80, pt, seq[0] & 0xFFFF, stamp & 0xFFFFFFFF, 0x600D) + payload,
                    (host, port))  # fmt: skip
        seq[0] += 1

    silence = encode(np.zeros(160, dtype=np.int16))
    beep, deadline, next_send = 0, time.monotonic() + 30, 0.0
    sock.settimeout(0.005)
    while beep < BEEP_FRAMES:  # (a frame of the greeting's pause before it: the count starts again)
        assert time.monotonic() < deadline, "no beep"
        if time.monotonic() >= next_send:
            send(silence)
            next_send = time.monotonic() + 0.02
        try:
            packet = sock.recv(2048)
        except TimeoutError:
            continue
        frame = decode(packet[12:]).astype(np.float64)
        n = np.arange(len(frame))
        strength = abs(frame @ np.exp(-2j * np.pi * BEEP * n / 8000)) ** 2 / len(frame) ** 2
        beep = beep + 1 if strength > 1e5 and strength > 0.3 * np.mean(frame**2) else 0
    n = np.arange(round(seconds * 8000))
    tone = np.round(6000 * np.sin(2 * np.pi * SPOKEN * n / 8000)).astype(np.int16)
    frames = [encode(tone[k : k + 160]) for k in range(0, len(tone), 160)]
    start = time.monotonic()
    for k, payload in enumerate(frames):  # (paced as a phone sends: a frame every 20 ms)
        send(payload)
        time.sleep(max(0.0, start + (k + 1) * 0.02 - time.monotonic()))
    key_ts = seq[0] * 160
    for payload in digit_train("#"):
        send(payload, pt=101, ts=key_ts)
        time.sleep(0.02)
    return len(frames)


def test_a_caller_who_speaks_as_the_beep_ends_has_all_of_it_in_the_message(world, lines, sip_client, edge):
    """The message's recording starts as the beep's last frame is sent: what the caller says from the
    moment it arrives is kept whole (started once the beep was done playing, it lost the first frames)."""
    _, callee, domain = lines
    forward(world, unreachable_kind="voicemail", unreachable_target="102")
    callee.unregister("102")
    raw = RawCall(sip_client(world.user_a1, target=edge), domain, events=True)
    try:
        sent = say_at_the_beeps_end(raw, 1.5)
        bye_within(raw.phone, 15)
    finally:
        raw.close()
    [message] = wait_for(lambda: messages(world, "102"), "the message's row", timeout=10)
    rate, samples = read_wav(message.path)
    frames = [samples[k : k + 160] for k in range(0, len(samples) - 159, 160)]
    said = sum(1 for frame in frames if tone_power(rate, frame, SPOKEN) > 1e5)
    assert said == sent, f"{sent - said} of the {sent} frames said from the beep's end are not in the message"


def test_a_full_box_says_so_and_takes_nothing(world, lines):
    caller, callee, domain = lines
    set_box(world, "102", max_messages=1)
    deposit(world, "102", SPOKEN)
    forward(world, busy_kind="voicemail", busy_target="102")
    callee.set_incoming("102", answer=486)
    caller.call("c1", f"sip:102@{domain}")
    caller.wait_call_state("c1", "confirmed", timeout=20)
    caller.play_tone("c1", [SPOKEN], 1500)
    caller.wait_call_state("c1", "disconnected", timeout=15)
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.answered_by, cdr.hangup_cause) == ("voicemail:102", "mailbox-full")
    assert len(messages(world, "102")) == 1


def test_0_sends_the_caller_to_the_box_operator(world, lines, third, tmp_path):
    caller, callee, domain = lines
    set_box(world, "102", operator_kind="user", operator_target="103")
    forward(world, busy_kind="voicemail", busy_target="102")
    callee.set_incoming("102", answer=486)
    caller.call("c1", f"sip:102@{domain}")
    caller.wait_call_state("c1", "confirmed", timeout=20)
    caller.dtmf("c1", "0")  # during the greeting
    label = third.wait_incoming(timeout=15)["call"]
    third.wait_call_state(label, "confirmed")
    heard = tmp_path / "operator-heard.wav"
    third.record(label, heard)
    caller.play_tone("c1", [SPOKEN], 1200)
    caller.wait_tone_done("c1")
    caller.hangup("c1")
    third.wait_call_state(label, "disconnected")
    third.wait_recorded(label)
    assert heard_ms(heard, SPOKEN) >= 800, "the operator hears the caller"
    assert messages(world, "102") == []
    assert cdr_of(world, callee_number="102").answered_by == "voicemail:102"


def deposit(world, number: str, freq: int, *, caller: str = "103", minutes_ago: int = 10) -> Message:
    """A message of 1.5 s of `freq` in box `number`, as the engine writes one."""
    from voicemail.services import message_deposit

    box = box_of(world, number)
    relative = f"{world.client_a1.pk}/{box.pk}/test-{uuid.uuid4().hex}.wav"
    tone_file(VOICEMAIL_DIR / relative, freq, 1.5)
    received_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    pk = committed(message_deposit, world.client_a1.pk, box.pk, relative, caller_number=caller, caller_name="",
                   call_uuid=None, received_at=received_at, seconds=1.5)  # fmt: skip
    return message_now(world, pk)


def message_now(world, pk: int) -> Message | None:
    def read():
        with tenant_context(world.client_a1):
            return Message.objects.filter(pk=pk).first()

    return committed(read)


CUT_IN = 4.0  # s after the PIN and 1 are typed: the keys sent (about 2 s) and the first envelope begun


def test_3_2_calls_the_caller_back(world, lines, third, tmp_path):
    caller, _, domain = lines
    set_box(world, "101", pin="2468")
    message = deposit(world, "101", SPOKEN, caller="103")
    caller.call("m", f"sip:*97@{domain}")
    caller.wait_call_state("m", "confirmed")
    caller.dtmf("m", "2468#1")
    time.sleep(CUT_IN)  # the message's envelope begun: 3 cuts it short (typed earlier, it is heard whole)
    caller.dtmf("m", "32")
    wait_for(lambda: message_now(world, message.pk).heard, "the message heard", timeout=30)
    label = third.wait_incoming(timeout=15)["call"]
    third.wait_call_state(label, "confirmed")
    heard = tmp_path / "called-back.wav"
    third.record(label, heard)
    caller.play_tone("m", [BUSY], 1200)
    caller.wait_tone_done("m")
    caller.hangup("m")
    third.wait_call_state(label, "disconnected")
    third.wait_recorded(label)
    assert heard_ms(heard, BUSY) >= 800, "103 talks with the box's owner"


def test_three_wrong_pins_end_the_call_and_the_right_one_opens_the_box(world, lines):
    caller, _, domain = lines
    set_box(world, "102", pin="2468")
    caller.call("w", f"sip:*98@{domain}")
    caller.wait_call_state("w", "confirmed")
    caller.dtmf("w", "102#1111#102#2222#102#3333#")
    caller.wait_call_state("w", "disconnected", timeout=40)
    assert cdr_of(world, hangup_cause="wrong-pin").caller_number == "101"
    caller.call("r", f"sip:*98@{domain}")
    caller.wait_call_state("r", "confirmed")
    caller.dtmf("r", "102#2468##")  # in, then # in the main menu: goodbye
    caller.wait_call_state("r", "disconnected", timeout=40)
    assert cdr_of(world, hangup_cause="done").caller_number == "101"


def test_a_robot_calling_again_and_again_is_locked_out_of_the_box(world, lines):
    """Three tries a call, but the box keeps count across calls (5 wrong PINs by default): after two
    calls of wrong PINs even the right one is refused on the third; its owner still gets in by *97."""
    caller, _, domain = lines
    set_box(world, "102", pin="2468")
    since = dt.datetime.now(dt.UTC)
    for call_id in ("b1", "b2"):
        caller.call(call_id, f"sip:*98@{domain}")
        caller.wait_call_state(call_id, "confirmed")
        caller.dtmf(call_id, "102#1111#102#2222#102#3333#")
        caller.wait_call_state(call_id, "disconnected", timeout=40)
    caller.call("b3", f"sip:*98@{domain}")
    caller.wait_call_state("b3", "confirmed")
    caller.dtmf("b3", "102#2468#102#2468#102#2468#")
    caller.wait_call_state("b3", "disconnected", timeout=40)
    ended = Cdr.objects.filter(client_id=world.client_a1.pk, started_at__gte=since, ended_at__isnull=False)
    wait_for(lambda: ended.count() == 3, "the three calls' records")
    assert list(ended.values_list("hangup_cause", flat=True)) == ["wrong-pin"] * 3
    # The owner, at their own line, still gets in: *97's tries are counted apart from *98's.
    owner = lines[1]
    owner.call("o", f"sip:*97@{domain}")
    owner.wait_call_state("o", "confirmed")
    owner.dtmf("o", "2468##")
    owner.wait_call_state("o", "disconnected", timeout=40)
    assert cdr_of(world, hangup_cause="done").caller_number == "102"


def record_by_phone(world, phone, label: str, box: Mailbox, kind: str, freq: int) -> None:
    """In the box's options menu: the key of `kind`, then `freq` said after the beep, then #; the
    box's `kind` greeting is then that tone."""
    phone.dtmf(label, {"unavailable": "1", "busy": "2", "name": "3"}[kind])
    partial = box_directory(world.client_a1.pk, box.pk) / f"greeting-{kind}.recording.wav"
    wait_for(partial.exists, f"the recording of the {kind} greeting begun (after its prompt and the beep)", timeout=20)
    phone.play_tone(label, [freq], 1500)
    phone.wait_tone_done(label)
    phone.dtmf(label, "#")
    field = f"greeting_{kind}"
    recorded = wait_for(lambda: getattr(box_of(world, box.number), field), f"the {kind} greeting recorded", 15)
    assert heard_ms(VOICEMAIL_DIR / recorded, freq) >= 1000


def test_the_owner_records_the_busy_greeting_and_the_name_and_changes_the_pin_by_phone(world, lines, tmp_path):
    """By phone, 101 records its busy greeting and its name (the unavailable greeting takes the same
    way: 1 in the options) and changes its PIN. A caller who finds 101 busy hears that greeting; one
    who finds it unreachable (no unavailable greeting) hears the name, then "is not available"."""
    from telephony.services import forwarding_save
    from voicemail.services import mailbox_pin_check

    caller, callee, domain = lines
    box = set_box(world, "101", pin="2468")
    caller.call("o", f"sip:*97@{domain}")
    caller.wait_call_state("o", "confirmed")
    caller.dtmf("o", "2468#0")  # the PIN, the options
    record_by_phone(world, caller, "o", box, "busy", BUSY)
    record_by_phone(world, caller, "o", box, "name", ON_BUSY)
    caller.dtmf("o", "41357#")  # 4: a new PIN
    wait_for(lambda: committed(mailbox_pin_check, world.client_a1.pk, box.pk, "1357"), "the new PIN", timeout=15)
    caller.hangup("o")
    caller.wait_call_state("o", "disconnected")

    extension = world.extension_of(world.user_a1)
    to_box = {"busy_kind": "voicemail", "busy_target": "101", "unreachable_kind": "voicemail",
              "unreachable_target": "101"}  # fmt: skip
    committed(lambda: forwarding_save(actor=None, client=world.client_a1, extension=extension, **to_box))
    caller.set_incoming("101", answer=486)
    for label, seconds in (("busy", 2.0), ("unreachable", 3.0)):  # (the greeting 1.5 s; the name, 1.5 s, first)
        if label == "unreachable":
            caller.unregister("101")
        callee.call(label, f"sip:101@{domain}")
        callee.wait_call_state(label, "confirmed", timeout=20)
        heard = tmp_path / f"{label}.wav"
        callee.record(label, heard)
        time.sleep(seconds)
        callee.hangup(label)
        callee.wait_recorded(label)
        wanted, other = (BUSY, ON_BUSY) if label == "busy" else (ON_BUSY, BUSY)
        assert heard_ms(heard, wanted) >= 1000 and heard_ms(heard, other) < 200, label


def test_an_outside_caller_is_called_back_through_the_client_carriers(world, lines, phone_carrier, tmp_path):
    from records.models import Cdr

    caller, _, domain = lines
    mobile, carrier = phone_carrier()
    set_box(world, "101", pin="2468")
    message = deposit(world, "101", SPOKEN, caller=MOBILE)
    caller.call("m", f"sip:*97@{domain}")
    caller.wait_call_state("m", "confirmed")
    caller.dtmf("m", "2468#1")
    time.sleep(CUT_IN)  # the message's envelope begun: 3 cuts it short (typed earlier, it is heard whole)
    caller.dtmf("m", "32")
    wait_for(lambda: message_now(world, message.pk).heard, "the message heard", timeout=30)
    away = mobile.wait_incoming(timeout=15)["call"]
    mobile.answer(away)
    mobile.wait_call_state(away, "confirmed")
    heard = tmp_path / "mobile-heard.wav"
    mobile.record(away, heard)
    caller.play_tone("m", [BUSY], 1200)
    caller.wait_tone_done("m")
    caller.hangup("m")
    mobile.wait_call_state(away, "disconnected")
    mobile.wait_recorded(away)
    assert heard_ms(heard, BUSY) >= 800, "the caller called back talks with the box's owner"
    back = cdr_of(world, callee_number=MOBILE)
    assert (back.direction, back.carrier_id, back.caller_number) == (Cdr.Direction.OUTBOUND, carrier.pk, "101")


def test_a_message_under_a_second_is_not_kept(world, lines):
    caller, callee, domain = lines
    box = box_of(world, "102")
    forward(world, busy_kind="voicemail", busy_target="102")
    callee.set_incoming("102", answer=486)
    caller.call("c1", f"sip:102@{domain}")
    caller.wait_call_state("c1", "confirmed", timeout=20)
    caller.dtmf("c1", "1")  # the greeting skipped
    directory = box_directory(world.client_a1.pk, box.pk)
    wait_for(lambda: list(directory.glob("20*.wav")), "the message's recording begun", timeout=15)
    caller.dtmf("c1", "#")
    caller.wait_call_state("c1", "disconnected", timeout=15)
    assert messages(world, "102") == [] and not list(directory.glob("20*.wav")), "nothing kept"
    assert cdr_of(world, callee_number="102").hangup_cause == "too-short"


# The issue's own sentence: messages a phone left on no answer and on busy, heard back by phone and
# downloaded from the portal and the API with their tones; by phone keys 6 (next), 4 (previous), 5
# (repeat), 9 (save), 7 (delete).

ON_BUSY = 1700  # Hz: what the caller says when 102 is busy (SPOKEN when it does not answer)


def tone_runs(path, freqs: tuple[int, ...], least_ms: int = 400) -> list[int]:
    """The tones of `freqs` heard in a recording, in order: each an unbroken run of at least `least_ms`
    of loud 20 ms windows it rules (a message played; prompts only touch a tone in passing)."""
    from tests.sip.audio import CANDIDATES, dominant, loud_ms

    rate, samples = read_wav(path)
    window, runs, current, length = rate // 50, [], None, 0
    for start in range(0, len(samples) - window + 1, window):
        part = samples[start : start + window]
        ruled = dominant(rate, part, CANDIDATES)[0] if loud_ms(rate, part) else None
        ruled = ruled if ruled in freqs else None
        if ruled == current:
            length += 1
            continue
        if current is not None and length * 20 >= least_ms:
            runs.append(current)
        current, length = ruled, 1
    if current is not None and length * 20 >= least_ms:
        runs.append(current)
    return runs


def downloaded(response, path: Path) -> Path:
    assert response.status_code == 200, response.status_code
    body = b"".join(response.streaming_content) if response.streaming else response.content
    path.write_bytes(body)
    return path


def test_messages_left_on_no_answer_and_busy_are_downloaded_and_heard_by_phone(world, lines, portal, api, tmp_path):
    caller, callee, domain = lines
    with_greetings(world, "102")
    forward(world, no_answer_kind="voicemail", no_answer_target="102", no_answer_after=5, busy_kind="voicemail",
            busy_target="102")  # fmt: skip
    left = []
    for answer, freq, greeting in ((180, SPOKEN, "unavailable"), (486, ON_BUSY, "busy")):  # no answer, busy
        callee.set_incoming("102", answer=answer)
        heard = tmp_path / f"caller-heard-{greeting}.wav"
        leave(caller, domain, heard=heard, freq=freq)
        caller.wait_recorded("c1")
        wanted, other = (BUSY, UNAVAILABLE) if greeting == "busy" else (UNAVAILABLE, BUSY)
        # (the prompts after the message have a little of either tone: a greeting would be 600 ms of it)
        assert heard_ms(heard, wanted) >= 500 and heard_ms(heard, other) < 200, "the greeting the forwarding calls for"
        cdr = cdr_of(world, callee_number="102", legs__contains=[{"leg": "voicemail", "greeting": greeting}])
        assert (cdr.disposition, cdr.answered_by) == ("answered", "voicemail:102")
        call = str(cdr.call_uuid)
        message = wait_for(lambda c=call: next((m for m in messages(world, "102") if str(m.call_uuid) == c), None),
                           "the message's row", timeout=10)  # fmt: skip
        assert (message.caller_number, message.folder, message.heard) == ("101", "new", False)
        assert message.seconds >= 1.0
        left.append(message)
    first, second = left

    # Downloaded by their owner: the portal's player file, and the API's audio.
    by_portal = downloaded(portal(world.user_a1b).get(f"/voicemail/messages/{first.pk}/audio.wav"), tmp_path / "1.wav")
    assert longest_heard_ms(by_portal, SPOKEN) >= 1000 and heard_ms(by_portal, ON_BUSY) == 0
    http = api(world.user_a1b)
    audio = http.get(f"/api/v1/voicemail/messages/{second.pk}/").json()["audio"]
    by_api = downloaded(http.get(audio), tmp_path / "2.wav")
    assert longest_heard_ms(by_api, ON_BUSY) >= 1000 and heard_ms(by_api, SPOKEN) == 0

    # Heard back at 102's phone: *97, the PIN and 1 typed ahead (the messages, oldest first), 6 the
    # next. Then pairs of keys, the second acting on the message the first led to: 4 9 saves the first
    # (4 went back), 5 7 deletes the second (5 stayed on it; after 6 the 7 would find none).
    set_box(world, "102", pin="2468")
    callee.call("m", f"sip:*97@{domain}")
    callee.wait_call_state("m", "confirmed")
    heard = tmp_path / "owner-heard.wav"
    callee.record("m", heard)
    callee.dtmf("m", "2468#1")
    wait_for(lambda: message_now(world, first.pk).heard, "the first message heard", timeout=30)
    callee.dtmf("m", "6")
    wait_for(lambda: message_now(world, second.pk).heard, "the second message heard", timeout=30)
    callee.dtmf("m", "49")
    wait_for(lambda: message_now(world, first.pk).folder == "saved", "4 then 9: the first saved", timeout=10)
    assert message_now(world, second.pk).folder == "new"
    time.sleep(2.0)  # "saved" said, the second's envelope begun: a key now cuts it
    callee.dtmf("m", "5")
    time.sleep(0.6)  # (its envelope again)
    callee.dtmf("m", "7")
    wait_for(lambda: message_now(world, second.pk) is None, "5 then 7: the second deleted", timeout=20)
    callee.hangup("m")
    callee.wait_recorded("m")
    assert tone_runs(heard, (SPOKEN, ON_BUSY)) == [SPOKEN, ON_BUSY], "1, then 6: each message once, in order"
    assert longest_heard_ms(heard, SPOKEN) >= 900 and longest_heard_ms(heard, ON_BUSY) >= 900, "played whole"
    wait_for(lambda: not second.path.exists(), "the deleted message's file removed")
    assert first.path.exists()


def test_a_message_is_cut_at_the_boxs_longest(world, lines):
    """A box that takes 2 s: the caller who goes on talking is cut there, told it is recorded, and let go;
    the message keeps those 2 s."""
    caller, callee, domain = lines
    with_greetings(world, "102")
    longest = 2
    set_box(world, "102", max_seconds=longest)
    forward(world, busy_kind="voicemail", busy_target="102")
    callee.set_incoming("102", answer=486)
    caller.call("c1", f"sip:102@{domain}")
    caller.wait_call_state("c1", "confirmed", timeout=20)
    caller.play_tone("c1", [SPOKEN], 20000, loop=True)  # talks on and on
    caller.wait_call_state("c1", "disconnected", timeout=15)
    [message] = wait_for(lambda: messages(world, "102"), "the message's row", timeout=10)
    # The row's length is the audio the engine wrote: without the box's limit it would be the caller's
    # 15-20 s of tone (the call ends only when the caller's phone gives up), so this fails then.
    assert abs(message.seconds - longest) <= 0.2, f"cut at the box's {longest} s: {message.seconds} s kept"
    assert 1500 <= heard_ms(message.path, SPOKEN) <= 2100
    assert cdr_of(world, callee_number="102").hangup_cause == "message-left"


def test_a_phone_network_number_points_straight_at_a_shared_box(world, engine, phones, edge, carrier_factory_pstn,
                                                                 portal, tmp_path):  # fmt: skip
    """A carrier's call to the client's number that points at the shared box "Sales" (no person rings):
    the caller skips the box's prompt and leaves a message there, which a member hears in the portal."""
    from tests.telephony.sipclient import SipClient
    from tests.telephony.test_pstn_inbound import known_as_carrier
    from voicemail.services import mailbox_save

    did, outside = "+4930901877", "+4915112345678"
    sales = committed(mailbox_save, actor=world.client_a1_op, client=world.client_a1, number="800", name="Sales",
                      members=[world.extension_of(world.user_a1b).pk])  # fmt: skip
    carrier = carrier_factory_pstn([(world.brand_a, did, world.client_a1, "voicemail", "800")])
    probe = SipClient(edge.address, outside, "carrier.example")
    try:
        known_as_carrier(probe)
    finally:
        probe.close()
    gateway = phones(name="gateway")
    gateway.account(outside, domain="127.0.0.1", default=True)  # the carrier's gateway: no registration, no digest
    gateway.call("g", f"sip:{did}@127.0.0.1:{edge.port}")
    gateway.wait_call_state("g", "confirmed", timeout=20)
    gateway.dtmf("g", "1")  # the box's prompt skipped
    gateway.play_tone("g", [ON_BUSY], 2500)
    gateway.wait_tone_done("g")
    gateway.dtmf("g", "#")
    gateway.wait_call_state("g", "disconnected", timeout=15)
    [message] = wait_for(lambda: messages(world, "800"), "the message's row in the shared box", timeout=10)
    assert message.caller_number.endswith(outside[1:]) and message.seconds >= 1.0
    cdr = cdr_of(world, callee_number=did)
    assert (cdr.direction, cdr.carrier_id, cdr.answered_by) == (Cdr.Direction.INBOUND, carrier.pk, "voicemail:800")
    member = portal(world.user_a1b)
    assert outside[1:] in member.get(f"/voicemail/{sales.pk}/").content.decode().replace(" ", "")
    audio = downloaded(member.get(f"/voicemail/messages/{message.pk}/audio.wav"), tmp_path / "sales.wav")
    assert longest_heard_ms(audio, ON_BUSY) >= 1000
