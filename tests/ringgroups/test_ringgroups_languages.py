"""Ring groups' portal pages in the account's language: the list, the form with its members' rows, the
services' field errors (several at once) and the refusal to delete a group something points at."""

from __future__ import annotations

from tests.pages import none_of, page_text, speak
from tests.ringgroups.test_portal import fields, rows


def test_the_ring_group_pages_speak_german_with_every_error(world, portal):
    speak(world.client_a1_op, "de")
    http = portal(world.client_a1_op)
    listed = page_text(http.get("/ring-groups/"))
    for german in (">Rufgruppen<", "Neue Rufgruppe", "Keine Rufgruppen."):
        assert german in listed, german
    none_of(listed, [">Ring groups<", "New ring group", "No ring groups."])
    bad = http.post("/ring-groups/new/", {**fields(name="", ring_time="0", no_answer_kind="voicemail",
                                                   no_answer_target="999"),
                                          **rows(("user", "999"), ("external", "112"))})  # fmt: skip
    text = page_text(bad)
    for german in ("Klingeldauer (Sekunden)", "Wenn sich niemand meldet: Ziel", "Alle gleichzeitig", "Mitglieder",
                   "Durchwahl oder Rufnummer", "Rufgruppe speichern", "Kein Benutzer hat die Durchwahl 999",
                   "ist eine Notrufnummer"):  # fmt: skip
        assert german in text, german
    none_of(text, ["Ring time (seconds)", "When nobody answers", "All at once", "Extension or number",
                   "Save ring group", "No user has extension", "is an emergency number"])  # fmt: skip
