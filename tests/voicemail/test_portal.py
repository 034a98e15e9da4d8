"""Voicemail in the client portal: a user's box (messages by folder, the player's byte ranges, heard,
moved, deleted; greetings uploaded in any audio format and removed; PIN and mail options), another
user's message answering 404, and the operators' boxes (shared ones made with every bad field
reported at once, changed, deleted)."""

from __future__ import annotations

import io
import wave

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from voicemail.models import Mailbox, Message


def box(world, number: str) -> Mailbox:
    with tenant_context(world.client_a1):
        return Mailbox.objects.get(number=number)


def message(world, pk: int) -> Message | None:
    with tenant_context(world.client_a1):
        return Message.objects.filter(pk=pk).first()


def test_a_user_sees_their_messages_by_folder_and_the_player_gets_byte_ranges(world, portal, left_message):
    new = left_message(world.client_a1, "102", caller_number="5550001", seconds=2.0)
    saved = left_message(world.client_a1, "102", caller_number="5550002", folder="saved", heard=True)
    http = portal(world.user_a1b)
    page = http.get("/voicemail/").content.decode()
    assert "5550001" in page and "5550002" not in page  # the new folder first
    assert "5550002" in http.get("/voicemail/", {"folder": "saved"}).content.decode()
    whole = http.get(f"/voicemail/messages/{new.pk}/audio.wav")
    size = new.path.stat().st_size
    assert whole.status_code == 200 and int(whole["Content-Length"]) == size
    part = http.get(f"/voicemail/messages/{new.pk}/audio.wav", HTTP_RANGE="bytes=1000-1999")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 1000-1999/{size}" and len(part.content) == 1000
    assert part.content == new.path.read_bytes()[1000:2000]
    past = http.get(f"/voicemail/messages/{saved.pk}/audio.wav", HTTP_RANGE=f"bytes={size * 10}-")
    assert past.status_code == 416


def test_another_users_message_answers_404_in_the_portal_and_stays(world, portal, left_message):
    theirs = left_message(world.client_a1, "102", caller_number="5550003")
    http = portal(world.user_a1)  # 101, the same client
    assert http.get(f"/voicemail/messages/{theirs.pk}/").status_code == 404
    assert http.get(f"/voicemail/messages/{theirs.pk}/audio.wav").status_code == 404
    assert http.post(f"/voicemail/messages/{theirs.pk}/", {"action": "delete"}).status_code == 404
    assert http.get(f"/voicemail/{box(world, '102').pk}/").status_code == 404
    assert "5550003" not in http.get("/voicemail/").content.decode()
    assert message(world, theirs.pk) is not None
    # the client's operator sees it
    assert portal(world.client_a1_op).get(f"/voicemail/messages/{theirs.pk}/").status_code == 200


def test_a_message_is_marked_moved_and_deleted(world, portal, left_message):
    mine = left_message(world.client_a1, "102")
    http = portal(world.user_a1b)
    url = f"/voicemail/messages/{mine.pk}/"
    assert http.post(url, {"action": "heard"}).status_code == 302
    assert message(world, mine.pk).heard
    http.post(url, {"action": "unheard"})
    assert not message(world, mine.pk).heard
    http.post(url, {"action": "move", "folder": "Family"})
    assert message(world, mine.pk).folder == "Family"
    refused = http.post(url, {"action": "move", "folder": "bad/name"}, follow=True)
    assert "A folder name is 1 to 40" in refused.content.decode()
    assert message(world, mine.pk).folder == "Family"
    assert 'href="?folder=Family"' in http.get("/voicemail/").content.decode()
    http.post(url, {"action": "delete"})
    assert message(world, mine.pk) is None


def test_a_greeting_is_uploaded_in_another_audio_format_listened_to_and_removed(world, portal, vm_dir, tmp_path):
    http = portal(world.user_a1b)
    own = box(world, "102")
    not_audio = SimpleUploadedFile("greeting.wav", b"this is not audio at all " * 40, content_type="audio/wav")
    refused = http.post(f"/voicemail/{own.pk}/greetings/unavailable/", {"audio": not_audio})
    assert refused.status_code == 200
    assert "Not a usable audio file" in refused.content.decode()
    assert not box(world, "102").greeting_unavailable

    source = tmp_path / "hifi.wav"  # 44.1 kHz stereo: converted to the engine's 8 kHz mono
    with wave.open(str(source), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(b"\x10\x00\x20\x00" * 44100)
    upload = SimpleUploadedFile("hifi.wav", source.read_bytes(), content_type="audio/wav")
    assert http.post(f"/voicemail/{own.pk}/greetings/unavailable/", {"audio": upload}).status_code == 302
    stored = box(world, "102").greeting("unavailable")
    assert stored is not None and stored.exists()
    heard = http.get(f"/voicemail/{own.pk}/greetings/unavailable.wav")
    with wave.open(io.BytesIO(b"".join(heard.streaming_content))) as played:
        assert (played.getframerate(), played.getnchannels()) == (8000, 1)
        assert abs(played.getnframes() - 8000) < 200
    assert http.post(f"/voicemail/{own.pk}/greetings/unavailable/remove/").status_code == 302
    assert not box(world, "102").greeting_unavailable


def test_a_user_changes_pin_and_mail_options_and_sees_every_error_at_once(world, portal):
    http = portal(world.user_a1b)
    own = box(world, "102")
    url = f"/voicemail/{own.pk}/settings/"
    page = http.post(url, {"pin": "12", "operator_kind": "external", "operator_target": "not a number"})
    body = page.content.decode()
    assert page.status_code == 200 and "A PIN is 4 to 10 digits." in body and 'id="id_operator_target' in body
    form = page.context["form"]
    assert {"pin", "operator_target"} <= set(form.errors)
    done = http.post(url, {"pin": "4321", "email_new_message": "on", "email_attach_audio": "on"})
    assert done.status_code == 302
    changed = box(world, "102")
    assert changed.email_new_message and changed.email_attach_audio and not changed.email_missed_call
    from django.contrib.auth.hashers import check_password

    assert check_password("4321", changed.pin_hash)
    # a user may not open the operators' pages
    assert http.get("/voicemail/new/").status_code == 404


def test_an_operator_makes_a_shared_box_with_every_bad_field_at_once_then_changes_and_deletes_it(world, portal):
    http = portal(world.client_a1_op)
    refused = http.post("/voicemail/new/", {"number": "101", "pin": "1", "max_seconds": "1", "max_messages": "0"})
    assert refused.status_code == 200
    assert {"number", "pin", "max_seconds", "max_messages"} <= set(refused.context["form"].errors)
    made = http.post("/voicemail/new/", {"number": "800", "name": "Sales", "pin": "2468", "max_seconds": "60",
                                         "max_messages": "5", "email": "sales@client-a1.example",
                                         "email_new_message": "on"})  # fmt: skip
    assert made.status_code == 302
    sales = box(world, "800")
    assert (sales.name, sales.max_messages, sales.shared) == ("Sales", 5, True)
    listing = http.get("/voicemail/").content.decode()
    assert "Sales" in listing and "User a1b" in listing  # the users' boxes and the shared one
    changed = http.post(f"/voicemail/{sales.pk}/settings/", {"number": "801", "name": "Sales team", "max_seconds":
                                                             "60", "max_messages": "5"})  # fmt: skip
    assert changed.status_code == 302 and box(world, "801").name == "Sales team"
    assert http.post(f"/voicemail/{sales.pk}/delete/").status_code == 302
    with tenant_context(world.client_a1):
        assert not Mailbox.objects.filter(pk=sales.pk).exists()
    # a user's box goes with the user's line only
    user_box = box(world, "102")
    http.post(f"/voicemail/{user_box.pk}/delete/")
    with tenant_context(world.client_a1):
        assert Mailbox.objects.filter(pk=user_box.pk).exists()


def test_a_full_box_says_so_in_the_portal(world, portal, left_message):
    from voicemail.services import mailbox_save

    mailbox_save(actor=world.client_a1_op, client=world.client_a1, mailbox=box(world, "102"), max_messages=1)
    left_message(world.client_a1, "102")
    assert "The box is full" in portal(world.user_a1b).get("/voicemail/").content.decode()


def test_an_operator_reaches_a_users_box_settings_from_the_users_page(world, portal):
    http = portal(world.client_a1_op)
    extension = world.extension_of(world.user_a1b)
    own = box(world, "102")
    page = http.get(f"/users/{extension.pk}/").content.decode()
    assert f'href="/voicemail/{own.pk}/settings/"' in page
    changed = http.post(f"/voicemail/{own.pk}/settings/", {"number": "102", "max_seconds": "90", "max_messages": "20",
                                                           "email_new_message": "on"})  # fmt: skip
    assert changed.status_code == 302
    assert (box(world, "102").max_seconds, box(world, "102").email_new_message) == (90, True)


def test_a_greeting_longer_than_two_minutes_is_a_field_error(world, portal, vm_dir, tmp_path):
    long = tmp_path / "long.wav"
    with wave.open(str(long), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * 8000 * 125)
    own = box(world, "102")
    upload = SimpleUploadedFile("long.wav", long.read_bytes(), content_type="audio/wav")
    refused = portal(world.user_a1b).post(f"/voicemail/{own.pk}/greetings/name/", {"audio": upload})
    assert refused.status_code == 200
    assert "longer than 120 s" in " ".join(refused.context["form"].errors["audio"])
    assert not box(world, "102").greeting_name


def test_a_shared_boxs_members_hear_its_messages_and_others_do_not(world, portal, left_message):
    op = portal(world.client_a1_op)
    member = world.extension_of(world.user_a1b)
    user_box = box(world, "102")
    assert "members" not in op.get(f"/voicemail/{user_box.pk}/settings/").context["form"].fields  # the user's own
    made = op.post("/voicemail/new/", {"number": "800", "name": "Sales", "pin": "2468", "max_seconds": "60",
                                       "max_messages": "5", "members": [member.pk]})  # fmt: skip
    assert made.status_code == 302
    sales = box(world, "800")
    message = left_message(world.client_a1, "800", caller_number="5550800")

    http = portal(world.user_a1b)
    listing = http.get("/voicemail/").content.decode()
    assert "Sales" in listing and f'href="/voicemail/{user_box.pk}/"' in listing  # their own box and the shared one
    assert "5550800" in http.get(f"/voicemail/{sales.pk}/").content.decode()
    assert http.post(f"/voicemail/messages/{message.pk}/", {"action": "heard"}).status_code == 302
    assert http.get(f"/voicemail/{sales.pk}/settings/").status_code == 404  # set up by its operators
    assert http.post(f"/voicemail/{sales.pk}/greetings/busy/").status_code == 404

    outsider = portal(world.user_a1)
    assert outsider.get(f"/voicemail/{sales.pk}/").status_code == 404
    assert outsider.get(f"/voicemail/messages/{message.pk}/audio.wav").status_code == 404
