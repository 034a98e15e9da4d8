"""Conference rooms, messages and notifications speak their account's language (tenants/i18n.py):
headings, labels, buttons, states, the services' refusals and the flash messages; the API stays English."""

from __future__ import annotations

from tests.pages import field_error, messages_of
from tests.pages import page_text as _page
from tests.pages import speak as _speak


def test_a_french_operator_manages_rooms_in_french(world, portal):
    _speak(world.client_a1_op, "fr")
    http = portal(world.client_a1_op)
    form = _page(http.get("/conferences/new/"))
    for french in ("Nouvelle salle de conférence", "ID de conférence", "Code des participants", "Code du modérateur",
                   "Numéro d'accès", "Récurrence", "Une fois", "Chaque jour ouvré", "Participants au maximum",
                   "Attendre le modérateur", "entendent de la musique jusqu'à l'arrivée du modérateur.",
                   "Vide : généré.", "Choisissez un utilisateur", "Créer la salle"):  # fmt: skip
        assert french in form, french
    for english in ("Conference ID", "Participants' PIN", "Every weekday", "Wait for the moderator",
                    "Empty: generated.", "Create room"):  # fmt: skip
        assert english not in form, english

    # Every bad field at once, in French: Django's, the model's validators and the service's.
    bad = http.post("/conferences/new/", {"name": "", "moderator": world.user_a1.pk, "conference_id": "42",
                                          "participant_pin": "5555", "moderator_pin": "5555",
                                          "starts_at": "2026-12-01T10:00", "ends_at": "2026-12-01T09:00",
                                          "max_participants": "50", "max_minutes": "240", "hot_retries": "2",
                                          "hot_retry_seconds": "60"})  # fmt: skip
    assert field_error(bad, "name") == "Ce champ est obligatoire."
    assert field_error(bad, "conference_id") == "Un ID de conférence compte de 4 à 9 chiffres."
    assert field_error(bad, "moderator_pin") == "Le code du modérateur doit différer de celui des participants."
    assert field_error(bad, "ends_at") == "La fin doit venir après le début."

    made = http.post("/conferences/new/", {"name": "Ventes", "moderator": world.user_a1.pk, "conference_id": "4711",
                                           "max_participants": "50", "max_minutes": "240", "hot_retries": "2",
                                           "hot_retry_seconds": "60"}, follow=True)  # fmt: skip
    assert messages_of(made) == ["Salle Ventes créée : ID de conférence 4711."]
    room = _page(made)
    for french in ("Accès", "Depuis les téléphones de l'entreprise", "(ou *88, puis l'ID)", "Paramètres",
                   "Ouverte", "toujours", "Participants au maximum", "En direct", "Modifier", "Supprimer…",
                   "Pas en cours : personne n'est dans la conférence.", "Appeler dans la conférence"):  # fmt: skip
        assert french in room, french
    for english in ("Dial in", "From the company's phones", "always", "Not running", "Call into the conference",
                    ">Edit<"):  # fmt: skip
        assert english not in room, english

    rooms = _page(http.get("/conferences/"))
    assert "<h1>Salles de conférence</h1>" in rooms and "Nouvelle salle" in rooms and "Conference rooms" not in rooms


def test_messages_and_notifications_in_german(world, portal):
    _speak(world.user_a1, "de")
    http = portal(world.user_a1)
    library = _page(http.get("/messages/"))
    for german in ("<h1>Meine Nachrichten</h1>", "Nachricht hochladen", "Per Telefon aufnehmen", "Länge",
                   "Keine Nachrichten."):  # fmt: skip
        assert german in library, german
    assert "Upload a message" not in library and "No messages." not in library
    recorded = http.post("/messages/record/", {"name": "Alarm"}, follow=True)
    (said,) = messages_of(recorded)
    assert said.startswith("Nachricht Alarm angelegt: Wählen Sie *89") and "drücken Sie # zum Beenden" in said
    listed = _page(recorded)
    assert "noch nicht" in listed and "wählen Sie *89" in listed and "not yet" not in listed

    campaign = http.post("/notifications/new/", {"name": "Übung", "numbers": "", "confirm_digit": "1",
                                                 "retries": "2", "retry_seconds": "300"})  # fmt: skip
    page = _page(campaign)
    for german in ("Neue Benachrichtigung", "Anzurufende Rufnummern", "Bestätigungstaste",
                   "Die Durchwahlen der Firma oder externe Nummern (über die Carrier angerufen), eine pro Zeile.",
                   "Benachrichtigung anlegen"):  # fmt: skip
        assert german in page, german
    assert field_error(campaign, "numbers") == "Dieses Feld ist zwingend erforderlich."
    assert field_error(campaign, "message") == "Dieses Feld ist zwingend erforderlich."
    strangers = http.post("/notifications/new/", {"name": "Übung", "numbers": "999", "confirm_digit": "1",
                                                  "retries": "2", "retry_seconds": "300"})  # fmt: skip
    assert field_error(strangers, "numbers").startswith(
        "999 ist weder eine Durchwahl dieser Firma noch eine Telefonnummer"
    )


def test_the_rooms_api_answers_in_english_whatever_the_accounts_language(world, api):
    _speak(world.client_a1_op, "fr")
    answer = api(world.client_a1_op).post("/api/v1/rooms/", {"name": "Bad", "moderator": world.user_a1.pk,
                                                             "conference_id": "42", "participant_pin": "5555",
                                                             "moderator_pin": "5555"}, format="json")  # fmt: skip
    assert answer.status_code == 400 and answer.headers["Content-Language"] == "en"
    fields = answer.json()["fields"]
    assert fields["conference_id"] == ["A conference ID is 4 to 9 digits."], fields
    assert fields["moderator_pin"] == ["The moderator PIN must differ from the participants' PIN."], fields
