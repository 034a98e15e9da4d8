"""Voicemail's portal pages speak their account's language (tenants/i18n.py): the operators' box list,
a box's page (its folders, greetings and count), the settings forms (labels, help, choices, Django's
and the service's field errors at once), a message's page and what is said after moving or deleting
it, the greetings' pages, the voicemail line of a user's page. The API stays English."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from tests.pages import field_error, messages_of, title_of
from tests.pages import none_of as _none_of
from tests.pages import page_text as _page
from tests.pages import speak as _speak
from tests.voicemail.test_portal import box, message
from voicemail.models import Mailbox


def test_an_operator_lists_makes_and_deletes_shared_boxes_in_german(world, portal):
    _speak(world.client_a1_op, "de")
    http = portal(world.client_a1_op)
    listed = _page(http.get("/voicemail/"))
    assert title_of(http.get("/voicemail/")) == "Mailbox"
    for german in ("<h1>Mailbox</h1>", ">Neue gemeinsame Mailbox<", "<th>Eigentümer</th>",
                   "<th>Nachrichten</th>", "Jeder Benutzer hat eine Mailbox", ">Optionen<", ">Einstellungen<",
                   "Die Nachrichtenlampe"):  # fmt: skip
        assert german in listed, german
    _none_of(listed, ["New shared box", ">Owner<", ">Messages<", ">Settings<", "Every user has", ">Options<",
                      "Light the message lamp", ">Voicemail<"])  # fmt: skip

    empty = _page(http.get("/voicemail/new/"))
    assert title_of(http.get("/voicemail/new/")) == "Neue gemeinsame Mailbox"
    for german in ("Rufnummer", "Längste Nachricht (Sekunden)", "Höchstens Nachrichten", "Vermittlung (0): Art",
                   "Niemand (die 0 bewirkt nichts)", "Ein Benutzer (seine Durchwahl)", "Eine externe Rufnummer",
                   "Vermittlung (0): Benutzer oder Rufnummer", "E-Mail-Adresse", "4 bis 10 Ziffern.",
                   "Jede neue Nachricht per E-Mail an mich senden", "Mit angehängter Audiodatei (sonst ein Link)",
                   "Mitglieder (Benutzer, die ihre Nachrichten abhören)", "Eine volle Mailbox nimmt keine mehr an.",
                   "Der Name einer gemeinsamen Mailbox (Vertrieb, Support...).", ">Speichern<"):  # fmt: skip
        assert german in empty, german
    _none_of(empty, [">Number<", "Longest message", "Messages at most", "Operator (0)", "Nobody", "A user (their",
                     "An outside number", "E-mail address", "4 to 10 digits", "Mail me each", "With the audio",
                     "Members", "A full box", "A shared box's name", ">Save<", "New shared voicemail box"])  # fmt: skip

    # Every bad field at once, each in German: Django's own errors and the service's.
    bad = http.post("/voicemail/new/", {"number": "101", "pin": "1", "max_seconds": "1", "max_messages": "0",
                                        "email": "nope", "operator_kind": "external",
                                        "operator_target": "kein Anschluss"})  # fmt: skip
    assert bad.status_code == 200
    assert field_error(bad, "number") == "101 ist die Nummer einer Durchwahl."
    assert field_error(bad, "pin") == "Eine PIN hat 4 bis 10 Ziffern."
    assert field_error(bad, "max_seconds") == "Dieser Wert muss größer oder gleich 2 sein."
    assert field_error(bad, "max_messages") == "Dieser Wert muss größer oder gleich 1 sein."
    assert field_error(bad, "email") == "Gib eine gültige E-Mail Adresse an."  # Django's own German
    assert field_error(bad, "operator_target") == "kein Anschluss ist keine Rufnummer."
    made = http.post("/voicemail/new/", {"number": "800", "name": "Vertrieb", "pin": "2468", "max_seconds": "60",
                                         "max_messages": "1"}, follow=True)  # fmt: skip
    assert messages_of(made) == ["Mailbox 800 Vertrieb gespeichert."]

    sales = box(world, "800")
    page = _page(http.get(f"/voicemail/{sales.pk}/"))
    assert title_of(http.get(f"/voicemail/{sales.pk}/")) == "Mailbox 800 Vertrieb"
    for german in ("0 von höchstens 1 Nachricht.", ">neu</a>", ">gespeichert</a>", "<th>Anrufer</th>",
                   "Keine Nachrichten in diesem Ordner.", "<h2>Ansagetexte</h2>", "<td>Nicht erreichbar</td>",
                   "<td>Besetzt</td>", "<td>Aufgenommener Name</td>", "Die Ansage der Plattform", ">Hochladen…<",
                   ">Löschen…<"):  # fmt: skip
        assert german in page, german
    _none_of(page, ["of at most", ">new</a>", ">saved</a>", ">Caller<", "No messages", "Greetings", "Unavailable",
                    ">Busy<", "Recorded name", "The platform's prompt", "Upload…", "Voicemail box"])  # fmt: skip

    upload = _page(http.get(f"/voicemail/{sales.pk}/greetings/busy/"))
    assert (
        title_of(http.get(f"/voicemail/{sales.pk}/greetings/busy/"))
        == "Besetztansage der Mailbox 800 Vertrieb hochladen"
    )
    assert "Audiodatei" in upload and "höchstens 2 Minuten." in upload and ">Hochladen<" in upload
    _none_of(upload, ["Upload the", "Audio file", "at most 2 minutes", ">Upload<"])
    refused = http.post(f"/voicemail/{sales.pk}/greetings/busy/", {"audio": ""})
    assert field_error(refused, "audio") == "Dieses Feld ist zwingend erforderlich."

    asked = _page(http.get(f"/voicemail/{sales.pk}/delete/"))
    assert title_of(http.get(f"/voicemail/{sales.pk}/delete/")) == "Mailbox 800 Vertrieb löschen"
    assert "Die gemeinsame Mailbox 800 Vertrieb, ihre Ansagen und ihre 0 Nachrichten löschen?" in asked
    assert ">Mailbox löschen<" in asked and "Delete" not in asked
    gone = http.post(f"/voicemail/{sales.pk}/delete/", follow=True)
    assert messages_of(gone) == ["Mailbox 800 Vertrieb gelöscht."]

    user_box = box(world, "102")  # a user's box goes with their line: said in German too
    kept = http.get(f"/voicemail/{user_box.pk}/delete/", follow=True)
    assert messages_of(kept) == ["Die Mailbox eines Benutzers wird mit seiner Telefonleitung entfernt."]


def test_a_french_user_reads_moves_and_deletes_messages_and_sets_the_box_in_french(world, portal, left_message):
    _speak(world.user_a1b, "fr")
    http = portal(world.user_a1b)
    first = left_message(world.client_a1, "102", caller_number="5550001")
    left_message(world.client_a1, "102", caller_number="5550002")
    own = box(world, "102")
    page = _page(http.get("/voicemail/"))
    assert title_of(http.get("/voicemail/")) == "Boîte vocale 102"
    for french in ("2 sur 100 messages au plus.", ">nouveaux</a>", ">sauvegardés</a>", "Marquer comme écouté",
                   "<h2>Annonces d'accueil</h2>", "<td>Indisponible</td>", "<td>Occupé</td>",
                   "<td>Nom enregistré</td>", ">Paramètres<"):  # fmt: skip
        assert french in page, french
    _none_of(page, ["Voicemail box", ">new</a>", ">saved</a>", "Mark heard", "Greetings", "Unavailable", ">Busy<",
                    "Recorded name", ">Settings<", "of at most"])  # fmt: skip

    url = f"/voicemail/messages/{first.pk}/"
    shown = _page(http.get(url))
    assert title_of(http.get(url)) == "Message de 5550001"
    for french in ("<dd>nouveaux</dd>", 'value="sauvegardés"', ">Déplacer<", ">Retour<", ">Marquer comme écouté<"):
        assert french in shown, french
    _none_of(shown, ["Message from", ">new<", 'value="saved"', ">Move<", ">Back<"])

    heard = http.post(url, {"action": "heard"}, follow=True)
    assert messages_of(heard) == ["Message marqué comme écouté."]
    moved = http.post(url, {"action": "move", "folder": "Sauvegardés"}, follow=True)  # the folder's French name
    assert messages_of(moved) == ["Message déplacé vers sauvegardés."]
    assert message(world, first.pk).folder == "saved"
    assert "<dd>sauvegardés</dd>" in _page(http.get(url))
    refused = http.post(url, {"action": "move", "folder": "bad/name"}, follow=True)
    assert messages_of(refused) == ["Un nom de dossier compte 1 à 40 lettres, chiffres, espaces ou tirets."]
    deleted = http.post(url, {"action": "delete"}, follow=True)
    assert messages_of(deleted) == ["Message supprimé."] and message(world, first.pk) is None

    settings_url = f"/voicemail/{own.pk}/settings/"
    form = _page(http.get(settings_url))
    assert title_of(http.get(settings_url)) == "Paramètres de la boîte vocale 102"
    for french in ("Code", "4 à 10 chiffres. Vide : le code reste inchangé.", "Standard (0) : type",
                   "Personne (le 0 ne fait rien)", "M'envoyer chaque nouveau message par e-mail",
                   "Avec l'audio en pièce jointe (sinon un lien)", "M'envoyer chaque appel manqué par e-mail",
                   ">Enregistrer<"):  # fmt: skip
        assert french in form, french
    _none_of(form, ["PIN", "4 to 10 digits", "Operator (0)", "Nobody", "Mail me each", "With the audio", ">Save<"])
    # Django's error and the service's, at once, in French
    bad = http.post(settings_url, {"pin": "12", "operator_kind": "sometimes"})
    assert field_error(bad, "pin") == "Un code compte de 4 à 10 chiffres."
    assert field_error(bad, "operator_kind").startswith("Sélectionnez un choix valide."), field_error(
        bad, "operator_kind"
    )
    saved = http.post(settings_url, {"pin": "4321", "email_missed_call": "on"}, follow=True)
    assert messages_of(saved) == ["Boîte vocale 102 enregistrée."]

    with tenant_context(world.client_a1):  # a greeting to remove (the confirmation only reads its name)
        Mailbox.objects.filter(pk=own.pk).update(greeting_unavailable=f"{world.client_a1.pk}/{own.pk}/greeting.wav")
    removal = _page(http.get(f"/voicemail/{own.pk}/greetings/unavailable/remove/"))
    for french in ("Retirer l'annonce d'indisponibilité", "Retirer cette annonce ? Les appelants entendront",
                   ">Retirer l'annonce<"):  # fmt: skip
        assert french in removal, french
    _none_of(removal, ["Remove the", "Remove this greeting", "Remove greeting"])


def test_the_users_page_links_their_voicemail_in_german(world, portal):
    _speak(world.client_a1_op, "de")
    line = world.extension_of(world.user_a1b)
    page = _page(portal(world.client_a1_op).get(f"/users/{line.pk}/"))
    for german in ("Mailbox 102:", ">Nachrichten und Ansagen<", ">Mailbox-Einstellungen<"):
        assert german in page, german
    _none_of(page, ["Voicemail box", "Messages and greetings", "Voicemail settings"])


def test_the_voicemail_api_answers_in_english_whatever_the_accounts_language(world, api, left_message):
    _speak(world.client_a1_op, "de")
    _speak(world.user_a1b, "fr")
    refused = api(world.client_a1_op).post("/api/v1/voicemail/boxes/", {"number": "101", "pin": "12"}, format="json")
    assert refused.status_code == 400 and refused.headers["Content-Language"] == "en"
    fields = refused.json()["fields"]
    assert fields["number"] == ["101 is an extension's number."], fields
    assert fields["pin"] == ["A PIN is 4 to 10 digits."], fields
    mine = left_message(world.client_a1, "102")
    moved = api(world.user_a1b).patch(f"/api/v1/voicemail/messages/{mine.pk}/", {"folder": "bad/name"},
                                      format="json")  # fmt: skip
    assert moved.status_code == 400
    assert moved.json()["fields"]["folder"] == ["A folder name is 1 to 40 letters, digits, spaces or dashes."]
