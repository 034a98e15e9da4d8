"""Voicemail through the API, with the portal's rules: boxes (a user their own, operators every box and
the shared ones' CRUD with every bad field at once), greetings (upload in any audio format, a file
that is not audio a field error), messages (filters, PATCH folder and heard, DELETE, the audio with
byte ranges), /me/voicemail/, and another user's message answering 404."""

from __future__ import annotations

import wave

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.voicemail.test_portal import box, message


def test_boxes_in_each_scope_and_shared_ones_made_with_every_bad_field_at_once(world, api):
    operator, user = api(world.client_a1_op), api(world.user_a1b)
    refused = operator.post("/api/v1/voicemail/boxes/", {"number": "102", "pin": "12", "max_messages": 0},
                            format="json")  # fmt: skip
    assert refused.status_code == 400
    assert {"number", "pin", "max_messages"} <= set(refused.json()["fields"])
    made = operator.post("/api/v1/voicemail/boxes/", {"number": "850", "name": "Support", "pin": "97531"},
                         format="json")  # fmt: skip
    assert made.status_code == 201, made.content
    shared = made.json()
    assert shared["shared"] and shared["user"] is None and "pin" not in shared
    numbers = {b["number"] for b in operator.get("/api/v1/voicemail/boxes/").json()["results"]}
    assert {"101", "102", "850"} <= numbers
    [own] = user.get("/api/v1/voicemail/boxes/").json()["results"]
    assert own["number"] == "102" and own["user"] == world.user_a1b.pk
    assert user.get(f"/api/v1/voicemail/boxes/{shared['id']}/").status_code == 404
    assert user.patch(f"/api/v1/voicemail/boxes/{own['id']}/", {"max_messages": 9999}, format="json").status_code == 400
    changed = user.patch(f"/api/v1/voicemail/boxes/{own['id']}/", {"pin": "8642", "email_missed_call": True},
                         format="json")  # fmt: skip
    assert changed.status_code == 200 and changed.json()["email_missed_call"] is True
    assert operator.delete(f"/api/v1/voicemail/boxes/{own['id']}/").status_code == 400  # goes with the line
    assert operator.delete(f"/api/v1/voicemail/boxes/{shared['id']}/").status_code == 204
    me = user.get("/api/v1/me/voicemail/")
    assert me.status_code == 200 and me.json()["number"] == "102"
    assert user.patch("/api/v1/me/voicemail/", {"pin": "1"}, format="json").json()["fields"]["pin"]
    assert operator.get("/api/v1/me/voicemail/").status_code == 404


def test_messages_filtered_changed_played_with_ranges_and_deleted(world, api, left_message):
    first = left_message(world.client_a1, "102", caller_number="5550001", seconds=2.0)
    left_message(world.client_a1, "102", caller_number="5550002", folder="saved", heard=True)
    left_message(world.client_a1, "101", caller_number="5550003")
    user = api(world.user_a1b)
    listed = user.get("/api/v1/voicemail/messages/").json()["results"]
    assert {m["caller_number"] for m in listed} == {"5550001", "5550002"}
    unheard = user.get("/api/v1/voicemail/messages/", {"heard": "false"}).json()["results"]
    assert [m["caller_number"] for m in unheard] == ["5550001"]
    saved = user.get("/api/v1/voicemail/messages/", {"folder": "saved"}).json()["results"]
    assert [m["caller_number"] for m in saved] == ["5550002"]
    mine = user.get("/api/v1/me/voicemail/messages/").json()["results"]
    assert len(mine) == 2
    assert api(world.client_a1_op).get("/api/v1/voicemail/messages/").json()["count"] == 3

    url = f"/api/v1/voicemail/messages/{first.pk}/"
    changed = user.patch(url, {"folder": "Family", "heard": True}, format="json")
    assert changed.status_code == 200 and (changed.json()["folder"], changed.json()["heard"]) == ("Family", True)
    assert user.patch(url, {"folder": "bad/name"}, format="json").json()["fields"]["folder"]
    assert user.patch(url, {"seconds": 99}, format="json").status_code == 400  # not changed here
    size = first.path.stat().st_size
    part = user.get(changed.json()["audio"], HTTP_RANGE="bytes=0-43")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 0-43/{size}"
    assert part.content[:4] == b"RIFF"
    assert user.delete(url).status_code == 204
    assert message(world, first.pk) is None


def test_another_users_message_answers_404_through_the_api(world, api, left_message):
    theirs = left_message(world.client_a1, "102", caller_number="5550004")
    other = api(world.user_a1)
    url = f"/api/v1/voicemail/messages/{theirs.pk}/"  # and {url}audio.wav
    assert other.get(url).status_code == 404
    assert other.get(f"{url}audio.wav").status_code == 404
    assert other.patch(url, {"heard": True}, format="json").status_code == 404
    assert other.delete(url).status_code == 404
    assert "5550004" not in other.get("/api/v1/voicemail/messages/").content.decode()
    assert not message(world, theirs.pk).heard


def test_a_greeting_upload_that_is_not_audio_is_a_field_error_and_one_that_is_gets_converted(world, api, vm_dir,
                                                                                             tmp_path):  # fmt: skip
    user = api(world.user_a1b)
    own = box(world, "102")
    url = f"/api/v1/voicemail/boxes/{own.pk}/greetings/busy/"
    text = SimpleUploadedFile("busy.mp3", b"certainly not an mp3 " * 50, content_type="audio/mpeg")
    refused = user.put(url, {"audio": text}, format="multipart")
    assert refused.status_code == 400
    assert "Not a usable audio file" in refused.json()["fields"]["audio"][0]
    source = tmp_path / "busy.wav"
    with wave.open(str(source), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x10" * 16000)
    done = user.put(url, {"audio": SimpleUploadedFile("busy.wav", source.read_bytes())}, format="multipart")
    assert done.status_code == 200 and done.json()["greetings"]["busy"] is True
    assert user.get(url, HTTP_RANGE="bytes=0-3").content == b"RIFF"
    assert user.put(f"/api/v1/voicemail/boxes/{own.pk}/greetings/hello/", {}, format="multipart").status_code == 404
    assert user.delete(url).json()["greetings"]["busy"] is False
    assert user.get(url).status_code == 404


def test_shared_box_members_through_the_api(world, api, left_message):
    operator = api(world.client_a1_op)
    member = world.extension_of(world.user_a1b)
    own = box(world, "102")
    refused = operator.patch(f"/api/v1/voicemail/boxes/{own.pk}/", {"members": [member.pk]}, format="json")
    assert refused.status_code == 400 and refused.json()["fields"]["members"]
    made = operator.post("/api/v1/voicemail/boxes/", {"number": "860", "name": "Help", "members": [member.pk]},
                         format="json")  # fmt: skip
    assert made.status_code == 201 and made.json()["members"] == [member.pk]
    left_message(world.client_a1, "860", caller_number="5550860")
    boxes = {b["number"] for b in api(world.user_a1b).get("/api/v1/voicemail/boxes/").json()["results"]}
    assert boxes == {"102", "860"}
    callers = [m["caller_number"] for m in api(world.user_a1b).get("/api/v1/voicemail/messages/").json()["results"]]
    assert callers == ["5550860"]
    assert api(world.user_a1).get(f"/api/v1/voicemail/boxes/{made.json()['id']}/").status_code == 404
    assert api(world.user_a1).get("/api/v1/voicemail/messages/").json()["count"] == 0
