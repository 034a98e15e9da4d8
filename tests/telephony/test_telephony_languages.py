"""The client portal's telephony pages in the account's language (tenants/i18n.py): users, calls, call
handling, schedules, blocked numbers, my phone and SIP protection; their forms' labels, the services'
field errors and the messages after a save. The API still answers in English."""

from __future__ import annotations

from tests.pages import field_error, messages_of, title_of
from tests.pages import none_of as _none_of
from tests.pages import page_text as _page
from tests.pages import speak as _speak

API_BLOCKS = "/api/v1/blocked-numbers/"


def test_the_users_pages_speak_german(world, portal):
    _speak(world.client_a1_op, "de")
    http = portal(world.client_a1_op)
    listed = _page(http.get("/users/?sort=number"))
    for german in (">Benutzer<", ">Durchwahl", ">Anrufername", ">SIP-Benutzername", ">Anrufbehandlung<",
                   ">Berechtigungen<", ">CSV exportieren<", ">CSV importieren<", ">Neuer Benutzer<", ">Filtern<",
                   "Jeder Telefonzustand", "Telefon angemeldet", "nicht angemeldet", ">ja<"):  # fmt: skip
        assert german in listed, german
    english = [">Users<", ">Extension", ">Caller name", ">Call handling<", ">Permissions<", ">Export CSV<",
               ">Import CSV<", ">New user<", ">Filter<", "Any phone state", "not registered", ">yes<"]  # fmt: skip
    _none_of(listed, english)

    line = world.extension_of(world.user_a1)
    detail = _page(http.get(f"/users/{line.pk}/"))
    assert title_of(http.get(f"/users/{line.pk}/")) == "Benutzer 101 User a1"
    for german in (">Konto<", ">Anrufberechtigungen<", "Anrufbehandlung ändern", ">Telefoneinstellungen<",
                   ">Outbound-Proxy<", ">Angemeldete Geräte<", "Neues Geheimnis erzeugen", ">Bearbeiten<",
                   "Klingelt auf den Telefonen der Leitung"):  # fmt: skip
        assert german in detail, german
    _none_of(detail, [">Account<", ">Call permissions<", "Change call handling", ">Phone settings<",
                      ">Outbound proxy<", "Registered devices", "Generate a new secret", ">Edit<",
                      "Rings the line's phones"])  # fmt: skip


def test_a_bad_new_user_is_refused_in_german_on_every_field(world, portal):
    _speak(world.client_a1_op, "de")
    http = portal(world.client_a1_op)
    empty = _page(http.get("/users/new/"))
    assert title_of(http.get("/users/new/")) == "Neuer Benutzer"
    for german in ("Anrufername", "2 bis 4 Ziffern.", "Leer: die Durchwahl.", "Benutzer anlegen", ">Abbrechen<"):
        assert german in empty, german
    _none_of(empty, ["Caller name", "2 to 4 digits.", "Empty uses the extension number.", "Create user"])

    taken = http.post("/users/new/", {"name": "", "email": "nina@client-a1.example", "password": "nina-password-77",
                                      "number": "101"})  # fmt: skip
    assert taken.status_code == 200
    assert field_error(taken, "number") == "Die Durchwahl 101 ist bereits vergeben."  # the service's error
    assert field_error(taken, "name") == "Dieses Feld ist zwingend erforderlich."  # Django's own, at once
    bad = http.post("/users/new/", {"name": "Nina", "email": "nina@client-a1.example", "password": "nina-password-77",
                                    "number": "1a", "sip_username": "a b"})  # fmt: skip
    assert field_error(bad, "number") == "Eine Durchwahl hat 2 bis 4 Ziffern."  # the model's validator
    assert "Buchstaben, Ziffern, Punkte" in field_error(bad, "sip_username")
    made = http.post("/users/new/", {"name": "Nina", "email": "nina@client-a1.example",
                                     "password": "nina-password-77", "number": "150"}, follow=True)  # fmt: skip
    assert messages_of(made) == ["Benutzer Nina mit der Durchwahl 150 angelegt."]


def test_call_handling_and_schedules_speak_spanish(world, portal):
    _speak(world.client_a1_op, "es")
    http = portal(world.client_a1_op)
    line = world.extension_of(world.user_a1)
    form = _page(http.get(f"/users/{line.pk}/forwarding/"))
    for spanish in ("No molestar", "Desviar siempre a", "Si está ocupado, desviar a", "Número de localización",
                    "Sin desvío", "Un usuario (sus dispositivos y luego su desvío)", "Guardar gestión de llamadas",
                    "Suenan los teléfonos de la línea"):  # fmt: skip
        assert spanish in form, spanish
    _none_of(form, ["Do not disturb", "Always forward to", "Find-me number", "Not forwarded", "An external number",
                    "Save call handling"])  # fmt: skip
    bad = http.post(f"/users/{line.pk}/forwarding/", {"busy_kind": "user", "busy_target": "999",
                                                      "no_answer_after": "2"})  # fmt: skip
    assert field_error(bad, "busy_target") == "Ningún usuario tiene la extensión 999."
    assert field_error(bad, "no_answer_after") == "Entre 5 y 120 segundos."
    saved = http.post(f"/users/{line.pk}/forwarding/", {"busy_kind": "user", "busy_target": "102",
                                                        "no_answer_after": "20"}, follow=True)  # fmt: skip
    assert messages_of(saved) == ["Gestión de llamadas guardada."]
    assert "Desviada si ocupado a usuario 102" in _page(http.get("/users/"))

    schedules = _page(http.get("/schedules/"))
    assert "Nuevo horario" in schedules and "No hay horarios." in schedules and "Números bloqueados" in schedules
    _none_of(schedules, ["New schedule", "No schedules.", "Blocked numbers", "Office hours"])
    wrong = http.post("/schedules/new/", {"name": "Oficina", "hours": "lunes 9-5", "holidays": "Navidad"})
    assert "Línea 1 (lunes 9-5): escriba los días" in field_error(wrong, "hours")
    assert "escriba una fecha como 2026-12-25" in field_error(wrong, "holidays")
    made = http.post("/schedules/new/", {"name": "Oficina", "hours": "mon-fri 09:00-17:00"}, follow=True)
    assert messages_of(made) == ["Horario Oficina guardado."]


def test_blocked_numbers_speak_french_and_the_api_stays_english(world, portal, api):
    _speak(world.client_a1_op, "fr")
    http = portal(world.client_a1_op)
    page = _page(http.get("/blocking/"))
    for french in ("Appelants bloqués", "Bloquer un appelant", "Destinations bloquées", "Aucun appelant n'est bloqué.",
                   "Appels des appelants bloqués", "Déclinés (603 Decline)", ">Enregistrer<",
                   "Les numéros d'urgence ne sont jamais bloqués."):  # fmt: skip
        assert french in page, french
    _none_of(page, ["Blocked callers", "Block a caller", "No caller is blocked.", "Declined (603", ">Save<"])
    bad = http.post("/blocking/new/", {"direction": "inbound", "kind": "number", "value": "12"})
    assert field_error(bad, "value") == (
        "12 n'est pas un numéro de téléphone en US : écrivez-le comme vos collaborateurs le composent, "
        "ou avec + et l'indicatif du pays."
    )
    assert "Numéro ou préfixe" in _page(bad) and "Number or prefix" not in _page(bad)
    made = http.post("/blocking/new/", {"direction": "inbound", "kind": "anonymous"}, follow=True)
    assert messages_of(made) == ["Appelant bloqué: Appelants anonymes enregistré."]
    chosen = http.post("/blocking/", {"action": "forbidden"}, follow=True)
    assert messages_of(chosen) == [
        "Enregistré : les appels des appelants bloqués sont désormais refusés (403 Forbidden)."
    ]

    # The same account through the API: English, whatever the portal speaks.
    refused = api(world.client_a1_op).post(API_BLOCKS, {"direction": "inbound", "kind": "number", "value": "12"},
                                           format="json")  # fmt: skip
    assert refused.status_code == 400
    assert "12 is not a phone number in US" in str(refused.json())


def test_calls_my_phone_and_protection_speak_their_accounts_language(world, portal, cdr_factory):
    _speak(world.client_a1_op, "de")
    calls = _page(portal(world.client_a1_op).get("/calls/"))
    for german in (">Läuft<", ">Verlauf<", "Kein laufender Anruf.", "Jedes Ergebnis", "Jede Richtung", ">Beginn",
                   ">Gesprächszeit", ">Wer sprach<", ">Beendet von<", "Keine Anrufe."):  # fmt: skip
        assert german in calls, german
    _none_of(calls, [">In progress<", ">History<", "No call in progress.", "Any outcome", "Any direction",
                     ">Talk time", ">Who talked<", "No calls."])  # fmt: skip
    segments = [{"reason": "answer", "caller": "101", "callee": "102", "seconds": 20},
                {"reason": "transfer", "caller": "101", "callee": "103", "seconds": 40}]  # fmt: skip
    cdr_factory(number="102", segments=segments, hangup_side="caller")
    history = _page(portal(world.client_a1_op).get("/calls/"))
    assert "101 ↔ 103 40 s <small>(Weiterleitung)</small>" in history and "<td>Anrufer</td>" in history
    _none_of(history, ["(transfer)", "(answer)", "<td>caller</td>"])

    _speak(world.user_a1, "fr")
    phone = _page(portal(world.user_a1).get("/phone/"))
    for french in ("Mon téléphone", "Identifiant SIP", "Proxy sortant", "Secret modifié", "Appareils enregistrés",
                   "Vous avez perdu votre secret SIP ?", "Générer un nouveau secret"):  # fmt: skip
        assert french in phone, french
    _none_of(phone, ["SIP user name", "Outbound proxy", "Lost your SIP secret?", "Generate a new secret"])

    _speak(world.brand_a_op, "es")
    http = portal(world.brand_a_op)
    protection = _page(http.get("/protection/"))
    for spanish in ("Protección SIP", "Reglas de direcciones", "Añadir una regla", "No hay ningún bloqueo vigente.",
                    "Denegar prevalece.", ">Red<", "Permitir solo"):  # fmt: skip
        assert spanish in protection, spanish
    _none_of(protection, ["SIP protection", "Address rules", "Add a rule", "No ban is in force.", "Deny wins."])
    bad = http.post("/protection/", {"client": world.client_a1.pk, "network": "nowhere", "action": "deny"})
    assert field_error(bad, "network") == "Introduzca una dirección o una red, como 203.0.113.0/24."


def test_an_english_account_still_sees_english(world, portal):
    http = portal(world.client_a1_op)
    listed = _page(http.get("/users/"))
    assert ">Export CSV<" in listed and "Any phone state" in listed and ">Permissions<" in listed
    bad = http.post("/blocking/new/", {"direction": "inbound", "kind": "number", "value": "12"})
    assert field_error(bad, "value").startswith("12 is not a phone number in US")
