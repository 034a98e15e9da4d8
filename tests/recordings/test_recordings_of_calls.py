"""The calls link to their recordings (portal history and API, under the recordings list's rules: the
client's operators all, a user their own calls' where the client lets users listen, never another
client's), and the client's operators see and set how each user's line is recorded."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from recordings.models import LineRecording, Recording, RecordingPolicy
from tenants.models import AuditEvent
from tests.pages import messages_of, none_of, page_text, speak


@pytest.fixture
def recorded(world):
    """recorded(call, *accounts, client=None) -> a recording of that call (a 1 kB file)."""
    made = []

    def make(call, *accounts, client=None):
        client = client or world.client_a1
        file = f"{client.pk}/tests/{time.monotonic_ns()}.wav"
        path = Path(settings.OCX_RECORDINGS_DIR) / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(1024))
        made.append(path)
        with tenant_context(client):
            return Recording.objects.create(call_uuid=call.call_uuid, caller=call.caller_number,
                                            callee=call.callee_number, started_at=call.started_at,
                                            ended_at=call.ended_at, seconds=4, file=file,
                                            accounts=[a.pk for a in accounts])  # fmt: skip

    yield make
    for path in made:
        path.unlink(missing_ok=True)


def call(cdr_factory, name: str, caller, callee=None, *, client=None):
    """A finished call from `caller` (an account) to 102 (`callee`), named `name` to find it."""
    return cdr_factory(client, started_at=timezone.now() - dt.timedelta(minutes=5), answer_after=0, seconds=42,
                       direction="internal", caller_number="101", account_id=caller.pk, number="102",
                       callee_account_id=callee.pk if callee else None, callee_name=name)  # fmt: skip


def set_policy(client, **fields):
    with tenant_context(client):
        RecordingPolicy.objects.update_or_create(pk=1, defaults=fields)


def row_of(page: str, name: str) -> str:
    """The history's table row that shows `name`."""
    at = page.index(name)
    return page[page.rindex("<tr>", 0, at) : page.index("</tr>", at)]


def links(page: str, recording: Recording) -> bool:
    listen = f'href="/recordings/{recording.pk}/audio/" aria-label="Listen to recording {recording.pk}"'
    download = f'href="/recordings/{recording.pk}/audio/?download=1" aria-label="Download recording {recording.pk}"'
    return listen in page and download in page


def test_the_call_history_links_each_call_to_the_recordings_one_may_hear(world, portal, cdr_factory, recorded):
    both = call(cdr_factory, "Quinn Linked", world.user_a1, world.user_a1b)
    first = recorded(both, world.user_a1, world.user_a1b)
    second = recorded(both, world.user_a1b)  # recorded again after user_a1 left the call (a transfer)
    other = call(cdr_factory, "Quinn Other", world.user_a1b)
    theirs = recorded(other, world.user_a1b)
    bare = call(cdr_factory, "Quinn Bare", world.user_a1)

    operator = portal(world.client_a1_op).get("/calls/", {"q": "Quinn"}).content.decode()
    assert links(operator, first) and links(operator, second) and links(operator, theirs)
    assert '<td class="recordings">—</td>' in row_of(operator, "Quinn Bare") and bare.pk  # no recording, no link
    user = portal(world.user_a1).get("/calls/", {"q": "Quinn"}).content.decode()
    assert "Quinn Linked" in user and "/audio/" not in user  # the client does not let users listen

    set_policy(world.client_a1, users_listen=True)
    user = portal(world.user_a1).get("/calls/", {"q": "Quinn"}).content.decode()
    assert links(user, first) and not links(user, second) and not links(user, theirs)
    assert f"/recordings/{first.pk}/audio/" in row_of(user, "Quinn Linked")
    assert portal(world.user_a1).get(f"/recordings/{second.pk}/audio/").status_code == 404
    assert portal(world.user_a1).get(f"/recordings/{first.pk}/audio/").status_code == 200


def test_another_clients_recordings_never_show_in_a_call_list(world, portal, api, cdr_factory, recorded):
    ours = call(cdr_factory, "Rhea Ours", world.user_a1)
    # Client b1's schema holds a recording naming a1's call (a forged or mistaken row): a1 never sees it.
    forged = recorded(ours, world.user_b1, client=world.client_b1)
    page = portal(world.client_a1_op).get("/calls/", {"q": "Rhea"}).content.decode()
    assert "Rhea Ours" in page and f"/recordings/{forged.pk}/audio/" not in page
    assert api(world.client_a1_op).get(f"/api/v1/calls/{ours.call_uuid}/").json()["recordings"] == []
    assert api(world.client_b1_op).get(f"/api/v1/calls/{ours.call_uuid}/").status_code == 404

    b1_call = call(cdr_factory, "Rhea Theirs", world.user_b1, client=world.client_b1)
    b1_recording = recorded(b1_call, world.user_b1, client=world.client_b1)
    assert links(portal(world.client_b1_op).get("/calls/", {"q": "Rhea"}).content.decode(), b1_recording)
    # The platform's and brands' hosts list calls of every client, with no recording links.
    for account in (world.god, world.brand_b_op):
        found = api(account).get(f"/api/v1/calls/{b1_call.call_uuid}/")
        assert found.status_code == 200 and found.json()["recordings"] == []


def test_the_api_gives_a_calls_recordings_under_the_same_rules(world, api, cdr_factory, recorded):
    both = call(cdr_factory, "Sol Api", world.user_a1, world.user_a1b)
    first = recorded(both, world.user_a1, world.user_a1b)
    second = recorded(both, world.user_a1b)
    expected = [{"id": r.pk, "url": f"/api/v1/recordings/{r.pk}/", "audio": f"/api/v1/recordings/{r.pk}/audio/"}
                for r in (first, second)]  # fmt: skip
    operator = api(world.client_a1_op)
    assert operator.get(f"/api/v1/calls/{both.call_uuid}/").json()["recordings"] == expected
    listed = operator.get("/api/v1/calls/", {"search": "Sol Api"}).json()["results"]
    assert [row["recordings"] for row in listed] == [expected]
    assert operator.get(expected[1]["audio"]).status_code == 200

    user = api(world.user_a1)
    assert user.get(f"/api/v1/calls/{both.call_uuid}/").json()["recordings"] == []
    set_policy(world.client_a1, users_listen=True)
    assert user.get(f"/api/v1/calls/{both.call_uuid}/").json()["recordings"] == expected[:1]
    assert [row["recordings"] for row in user.get("/api/v1/calls/", {"search": "Sol Api"}).json()["results"]] == [
        expected[:1]
    ]
    assert user.get(expected[1]["url"]).status_code == 404 and user.get(expected[1]["audio"]).status_code == 404


def test_a_page_of_calls_reads_its_recordings_in_one_query(world, portal, api, cdr_factory, recorded):
    def queries(fetch) -> int:
        with CaptureQueriesContext(connection) as seen:
            fetch()
        return len(seen.captured_queries)

    page = portal(world.client_a1_op)
    http = api(world.client_a1_op)
    one = call(cdr_factory, "Tam Count", world.user_a1)
    recorded(one, world.user_a1)
    few = (page.get("/calls/", {"q": "Tam"}), http.get("/api/v1/calls/", {"search": "Tam"}))  # warm: sessions, tokens
    assert few[0].status_code == 200 and len(few[1].json()["results"]) == 1
    before = (queries(lambda: page.get("/calls/", {"q": "Tam"})),
              queries(lambda: http.get("/api/v1/calls/", {"search": "Tam"})))  # fmt: skip
    for n in range(4):
        recorded(call(cdr_factory, f"Tam Count {n}", world.user_a1), world.user_a1)
    after = (queries(lambda: page.get("/calls/", {"q": "Tam"})),
             queries(lambda: http.get("/api/v1/calls/", {"search": "Tam"})))  # fmt: skip
    assert after == before
    assert len(http.get("/api/v1/calls/", {"search": "Tam"}).json()["results"]) == 5


def test_operators_see_and_set_each_users_recording(world, portal):
    http = portal(world.client_a1_op)
    extension = world.extension_of(world.user_a1)
    set_policy(world.client_a1, mode="on_demand")
    listing = http.get("/users/", {"q": "user@client-a1"}).content.decode()
    assert '<td class="recording">On demand' in listing
    detail = http.get(f"/users/{extension.pk}/").content.decode()
    assert "Recording: On demand (as the company chose)." in detail and f"/users/{extension.pk}/recording/" in detail

    page = http.get(f"/users/{extension.pk}/recording/").content.decode()
    assert "Recording of their calls now: On demand." in page and "let users choose" in page
    http.post(f"/users/{extension.pk}/recording/", {"mode": "always"})  # disabled: the company's choice stays
    with tenant_context(world.client_a1):
        assert not LineRecording.objects.exclude(mode="client").exists()

    set_policy(world.client_a1, mode="on_demand", users_choose=True)
    bad = http.post(f"/users/{extension.pk}/recording/", {"mode": "loud"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    saved = http.post(f"/users/{extension.pk}/recording/", {"mode": "always"})
    assert saved.status_code == 302 and saved["Location"] == f"/users/{extension.pk}/"
    with tenant_context(world.client_a1):
        assert LineRecording.objects.get(extension_id=extension.pk).mode == "always"
    assert AuditEvent.objects.filter(
        actor=world.client_a1_op, action="recording_choice.update", data__mode="always"
    ).exists()
    assert "Recording: Always (the user's own choice)." in http.get(f"/users/{extension.pk}/").content.decode()
    listing = http.get("/users/", {"q": "client-a1.example"}).content.decode()
    assert '<td class="recording">Always <small>(own choice)</small>' in listing
    # The user still chooses their own, and sees it.
    assert portal(world.user_a1).post("/phone/recording/", {"mode": "never"}).status_code == 302
    assert "Recording: Never (the user's own choice)." in http.get(f"/users/{extension.pk}/").content.decode()

    assert portal(world.user_a1).get(f"/users/{extension.pk}/recording/").status_code == 404
    other = world.extension_of(world.user_b1)
    assert portal(world.client_b1_op).get(f"/users/{extension.pk}/recording/").status_code == 404  # not b1's line
    assert http.get(f"/users/{other.pk}/recording/").status_code == 404


def test_the_api_shows_and_sets_a_users_recording(world, api):
    http = api(world.client_a1_op)
    extension = world.extension_of(world.user_a1)
    url = f"/api/v1/users/{extension.pk}/recording/"
    assert http.get(url).json() == {"mode": "client", "effective": "never"}
    refused = http.put(url, {"mode": "always"}, format="json")
    assert refused.status_code == 400 and "recording settings let users choose" in refused.json()["fields"]["mode"][0]
    set_policy(world.client_a1, mode="always", users_choose=True)
    assert http.get(url).json() == {"mode": "client", "effective": "always"}
    assert http.put(url, {"mode": "loud"}, format="json").status_code == 400
    assert http.patch(url, {"mode": "never"}, format="json").json() == {"mode": "never", "effective": "never"}
    assert api(world.user_a1).get("/api/v1/me/recording/").json() == {"mode": "never"}
    assert api(world.user_a1).get(url).status_code == 404  # a user has me/recording/
    assert api(world.client_b1_op).get(url).status_code == 404
    assert api(world.client_b1_op).put(url, {"mode": "always"}, format="json").status_code == 404


def test_a_call_without_recordings_or_a_recording_without_a_call_links_nothing(world, api, cdr_factory):
    lone = call(cdr_factory, "Uma Lone", world.user_a1)
    with tenant_context(world.client_a1):
        Recording.objects.create(kind=Recording.Kind.CONFERENCE, conference="4242", call_uuid=None,
                                 started_at=timezone.now(), file="none.wav")  # fmt: skip
    assert api(world.client_a1_op).get(f"/api/v1/calls/{lone.call_uuid}/").json()["recordings"] == []
    assert api(world.client_a1_op).get(f"/api/v1/calls/{uuid.uuid4()}/").status_code == 404


def test_the_new_texts_in_french(world, portal, cdr_factory, recorded):
    speak(world.client_a1_op, "fr")
    http = portal(world.client_a1_op)
    recording = recorded(call(cdr_factory, "Vic Français", world.user_a1), world.user_a1)
    page = page_text(http.get("/calls/", {"q": "Vic"}))
    for french in ("<th>Enregistrements</th>", f'aria-label="Écouter l\'enregistrement {recording.pk}"',
                   f'aria-label="Télécharger l\'enregistrement {recording.pk}"'):  # fmt: skip
        assert french in page, french
    extension = world.extension_of(world.user_a1)
    detail = page_text(http.get(f"/users/{extension.pk}/"))
    assert (
        "Enregistrement : Jamais (comme l'entreprise l'a choisi)." in detail and ">Modifier l'enregistrement<" in detail
    )
    form = page_text(http.get(f"/users/{extension.pk}/recording/"))
    for french in ("Enregistrement de ses appels maintenant : Jamais.", "Enregistrer les appels de cet utilisateur",
                   "Les choix propres des utilisateurs ne s'appliquent que"):  # fmt: skip
        assert french in form, french
    none_of(detail + form + page, ["Recording:", "Recording of their calls", "Record this user", "Download recording",
                                   "Change recording"])  # fmt: skip
    set_policy(world.client_a1, users_choose=True)
    saved = http.post(f"/users/{extension.pk}/recording/", {"mode": "always"}, follow=True)
    assert messages_of(saved) == ["Enregistré : les prochains appels de l'utilisateur le suivent."]
    assert "Toujours <small>(choix propre)</small>" in page_text(http.get("/users/", {"q": "user@client-a1"}))
