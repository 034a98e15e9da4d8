"""The conference pages as people use them: a client's operators manage every room, a user their own
rooms; each room's page has its dial-in facts and the live conference; the provider and the brands
list the conferences running in their scope. (With real phones: tests/telephony/test_conference.py.)"""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import tenant_context

from conferencing.models import Room
from tests.pages import field_error, messages_of, title_of


def room(world, **lookup) -> Room | None:
    with tenant_context(world.client_a1):
        return Room.objects.filter(**lookup).first()


def filled(response, **values) -> dict:
    """The page's form as a browser would send it untouched (its initial values), with some fields typed."""
    data = {}
    form = response.context["form"]
    for name in form.fields:
        value = form[name].value()
        if value in (None, False, ""):
            continue
        data[name] = "on" if value is True else str(value)
    data.update({key: str(value) for key, value in values.items()})
    return data


def test_room_pages_render_with_their_titles(world, portal):
    team = room(world, conference_id="4242")
    for account, list_title in ((world.client_a1_op, "Conference rooms"), (world.user_a1, "My conference rooms")):
        http = portal(account)
        for url, title in [
            ("/conferences/", list_title),
            ("/conferences/?q=team", list_title),
            ("/conferences/new/", "New conference room"),
            (f"/conferences/{team.pk}/", "Room Team room"),
            (f"/conferences/{team.pk}/edit/", "Edit room Team room"),
            (f"/conferences/{team.pk}/delete/", "Delete room Team room"),
        ]:
            response = http.get(url)
            assert response.status_code == 200, (account, url)
            assert title_of(response) == title, url
        assert (
            '<a href="/conferences/" class="active" aria-current="page">Conferences</a>'
            in http.get("/conferences/").content.decode()
        )


def test_the_room_page_shows_its_dial_in_facts_and_that_nothing_runs(world, portal):
    team = room(world, conference_id="4242")
    for account in (world.client_a1_op, world.user_a1):
        page = portal(account).get(f"/conferences/{team.pk}/").content.decode()
        facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page))
        assert facts["Conference ID"] == "4242"
        assert facts["From the company's phones"].startswith("*884242")
        assert facts["Access number"] == "800"
        assert (facts["Participants' PIN"], facts["Moderator PIN"]) == ("1111", "9999")
        assert facts["Moderator"].startswith("User a1")
        assert "Not running: nobody is in the conference." in page
        assert '"/ws/events/"' in page and 'data-conference="4242"' in page  # the live script and its filter
    fragment = portal(world.user_a1).get(f"/conferences/{team.pk}/live/")
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert "Not running" in fragment.content.decode()


def test_controls_of_a_conference_that_does_not_run_say_so(world, portal):
    team = room(world, conference_id="4242")
    http = portal(world.user_a1)
    response = http.post(f"/conferences/{team.pk}/live/", {"action": "lock"}, follow=True)
    assert messages_of(response) == ["The conference is not running: nobody is in it."]
    response = http.post(f"/conferences/{team.pk}/live/", {"action": "mute"}, follow=True)
    assert messages_of(response) == ["Name the participant (its id in the conference)."]
    assert http.post(f"/conferences/{team.pk}/live/", {"action": "explode"}).status_code == 404


def test_an_operator_creates_a_room_for_a_user_then_edits_and_deletes_it(world, portal):
    http = portal(world.client_a1_op)
    form = http.get("/conferences/new/")
    created = http.post("/conferences/new/", filled(form, name="Sales board", moderator=world.user_a1c.pk,
                                                    access_number="850"))  # fmt: skip
    board = room(world, name="Sales board")
    assert created.status_code == 302 and created["Location"] == f"/conferences/{board.pk}/", created.content
    assert (board.moderator_id, board.access_number, len(board.conference_id)) == (world.user_a1c.pk, "850", 6)
    assert board.participant_pin.isdigit() and board.participant_pin != board.moderator_pin
    page = http.get(created["Location"])
    assert messages_of(page) == [f"Room Sales board created: conference ID {board.conference_id}."]
    assert board.moderator_pin in page.content.decode()

    edit = http.get(f"/conferences/{board.pk}/edit/")
    saved = http.post(f"/conferences/{board.pk}/edit/", filled(edit, max_participants=8, moderator=world.user_a1b.pk))
    assert saved.status_code == 302
    board = room(world, pk=board.pk)
    assert (board.max_participants, board.moderator_id, board.access_number) == (8, world.user_a1b.pk, "850")

    assert http.post(f"/conferences/{board.pk}/delete/").status_code == 302
    assert room(world, pk=board.pk) is None


@pytest.mark.parametrize(
    ("typed", "field", "message"),
    [
        ({"participant_pin": "12"}, "participant_pin", "A PIN is 4 to 8 digits."),
        ({"participant_pin": "5555", "moderator_pin": "5555"}, "moderator_pin", "must differ"),
        ({"conference_id": "4242"}, "conference_id", "Conference ID 4242 is already in use."),
        ({"access_number": "103"}, "access_number", "103 is an extension's number."),
        ({"access_number": "800"}, "access_number", "800 is already another room's number."),
        ({"max_participants": "x"}, "max_participants", "Enter a whole number."),
        ({"recurrence": "weekly"}, "recurrence", "A recurring room needs a start."),
        ({"moderator": "other-client"}, "moderator", "Select a valid choice."),
        ({"name": ""}, "name", "This field is required."),
    ],
)
def test_bad_input_shows_field_errors(world, portal, typed, field, message):
    if typed.get("moderator") == "other-client":
        typed = {"moderator": world.user_b1.pk}
    http = portal(world.client_a1_op)
    form = http.get("/conferences/new/")
    response = http.post("/conferences/new/", filled(form, **{"name": "Bad", "moderator": world.user_a1.pk, **typed}))
    assert response.status_code == 200
    assert message in field_error(response, field), field_error(response, field)
    assert room(world, name="Bad") is None


def test_a_room_form_shows_every_bad_field_at_once(world, portal):
    """The form's own refusals (a name, a number of participants) do not hide the service's (an ID and a
    number in use), when creating and when editing."""
    http = portal(world.client_a1_op)
    typed = {"name": "", "max_participants": "x", "conference_id": "4242", "access_number": "103",
             "moderator": world.user_a1.pk}  # fmt: skip
    response = http.post("/conferences/new/", filled(http.get("/conferences/new/"), **typed))
    board = room(world, name="Board")
    edited = http.post(f"/conferences/{board.pk}/edit/", filled(http.get(f"/conferences/{board.pk}/edit/"), **typed))
    for answer in (response, edited):
        assert answer.status_code == 200
        assert "required" in field_error(answer, "name")
        assert "whole number" in field_error(answer, "max_participants")
        assert "already in use" in field_error(answer, "conference_id")
        assert "extension's number" in field_error(answer, "access_number")
    assert room(world, pk=board.pk).name == "Board"


def test_a_user_sees_and_makes_only_their_own_rooms(world, portal):
    team = room(world, conference_id="4242")
    colleague = portal(world.user_a1b)
    listing = colleague.get("/conferences/").content.decode()
    assert "Team room" not in listing and "Board" in listing, "101's room is not listed, 102's own is"
    for url in (f"/conferences/{team.pk}/", f"/conferences/{team.pk}/edit/", f"/conferences/{team.pk}/live/"):
        assert colleague.get(url).status_code == 404, url
    assert colleague.post(f"/conferences/{team.pk}/live/", {"action": "end"}).status_code == 404

    form = colleague.get("/conferences/new/")
    assert "moderator" not in form.context["form"].fields  # a user's rooms are theirs
    created = colleague.post("/conferences/new/", filled(form, name="Mine", conference_id="31337"))
    assert created.status_code == 302
    mine = room(world, conference_id="31337")
    assert mine.moderator_id == world.user_a1b.pk
    assert "Mine" in colleague.get("/conferences/").content.decode()
    everything = portal(world.client_a1_op).get("/conferences/").content.decode()
    assert "Mine" in everything and "Team room" in everything and "User a1b" in everything


@pytest.mark.parametrize("account", ["god", "brand_a_op"])
def test_the_provider_and_brands_list_running_conferences(world, portal, account):
    http = portal(getattr(world, account))
    response = http.get("/conferences/")
    assert response.status_code == 200
    assert title_of(response) == "Running conferences"
    page = response.content.decode()
    assert "No conference is running." in page
    assert '<a href="/conferences/" class="active" aria-current="page">Conferences</a>' in page
    assert http.get("/conferences/1000/").status_code == 404  # rooms are the clients' own pages


def test_the_provider_list_is_not_for_client_accounts(world, portal):
    # On a client host /conferences/ is the room list; nothing lists other companies' conferences.
    page = portal(world.client_a1_op).get("/conferences/").content.decode()
    assert "Running conferences" not in page
