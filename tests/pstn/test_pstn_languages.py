"""The phone-network pages in the account's language (tenants/i18n.py): numbers, gateways, outbound
routes, the routing and outbound policies and the route tester; their forms' labels, the services' field
errors and the messages after a save. The API still answers in English."""

from __future__ import annotations

from tests.pages import field_error, messages_of, title_of
from tests.pages import none_of as _none_of
from tests.pages import page_text as _page
from tests.pages import speak as _speak


def test_numbers_and_gateways_speak_german(world, portal, pstn):
    _speak(world.brand_a_op, "de")
    http = portal(world.brand_a_op)
    numbers = _page(http.get("/numbers/"))
    for german in ("<h1>Rufnummern</h1>", "Der Rufnummernbestand", ">Mehrere hinzufügen<", ">Neue Rufnummer<",
                   ">Carrier<", ">Kosten / Preis pro Monat<", ">Ziel<", ">Ausgehende Routen<",
                   ">Routing-Richtlinie<"):  # fmt: skip
        assert german in numbers, german
    _none_of(numbers, ["The inventory of numbers", ">Add many<", ">New number<", ">Cost / price a month<",
                       ">Goes to<", ">Outbound routes<", ">Routing policy<", "nowhere"])  # fmt: skip

    url = f"/rating/carriers/{pstn.carrier_a.pk}/gateways/new/"
    form = _page(http.get(url))
    assert title_of(http.get(url)) == "Neues Gateway von A Trunk"
    for german in (">Host<", ">Benutzername<", ">Eingehende Netze<", ">Aktiviert<", "Gateway hinzufügen",
                   "Die Plattform bei diesem Gateway registriert halten."):  # fmt: skip
        assert german in form, german
    _none_of(form, [">Username<", ">Inbound networks<", ">Enabled<", "Add gateway", "Keep the platform registered"])
    bad = http.post(url, {"name": "a-gw", "host": "not a host!", "port": "x", "transport": "udp", "register": "on",
                          "inbound_networks": "192.0.2.0/24\nfoo", "enabled": "on"})  # fmt: skip
    assert bad.status_code == 200
    assert field_error(bad, "host") == "Verwenden Sie eine IP-Adresse oder einen DNS-Namen wie sip.carrier.example."
    assert field_error(bad, "inbound_networks").startswith("Zeile 2: foo ist keine IP-Adresse und kein Netz")
    assert field_error(bad, "username") == "Die Registrierung braucht einen Benutzernamen und ein Passwort."
    assert field_error(bad, "name") == "Der Carrier hat bereits ein Gateway namens a-gw."
    assert field_error(bad, "port") == "Bitte eine ganze Zahl eingeben."  # Django's own, in the same submission
    made = http.post(url, {"name": "edge", "host": "192.0.2.50", "transport": "udp", "enabled": "on"}, follow=True)
    assert messages_of(made) == ["Gateway edge zu A Trunk hinzugefügt."]

    bulk = http.post("/numbers/bulk/", {"carrier": pstn.carrier_a.pk, "monthly_cost": "0", "monthly_price": "0"})
    assert field_error(bulk, "numbers") == "Geben Sie die Rufnummern an oder eine CSV-Datei damit."
    added = http.post("/numbers/bulk/", {"carrier": pstn.carrier_a.pk, "monthly_cost": "0", "monthly_price": "0",
                                         "numbers": "+442079460040-+442079460041"}, follow=True)  # fmt: skip
    assert messages_of(added) == ["2 Rufnummern hinzugefügt."]


def test_routes_policies_and_the_route_tester_speak_french(world, portal, pstn):
    _speak(world.brand_a_op, "fr")
    http = portal(world.brand_a_op)
    routes = _page(http.get("/routes/"))
    for french in ("<h1>Routes sortantes</h1>", ">Nouvelle route<", ">Motif<", ">Activé<", ">oui<", "Dans l'ordre",
                   "Les appels sortants prennent la première route activée"):  # fmt: skip
        assert french in routes, french
    _none_of(routes, [">New route<", ">Pattern<", ">Enabled<", ">yes<", "In order", "Outbound calls take"])
    bad = http.post("/routes/new/", {"name": "", "pattern_kind": "regex", "pattern": "(", "mode": "priority",
                                     "position": "x"})  # fmt: skip
    assert field_error(bad, "pattern").startswith("Ce n'est pas une expression régulière :")
    assert field_error(bad, "name") == "Ce champ est obligatoire."
    assert "Expression régulière" in _page(bad) and "Regular expression" not in _page(bad)

    policy = _page(http.get("/routing-policy/"))
    assert "Taux de réponse minimal (%)" in policy and "Enregistrer la politique" in policy
    _none_of(policy, ["Lowest answer-seizure ratio", "Save policy", "A carrier below these"])
    saved = http.post("/routing-policy/", {"min_asr": "25", "max_server_errors": "30", "window": "20"}, follow=True)
    assert messages_of(saved) == ["Politique de routage enregistrée."]

    client_policy = _page(http.get(f"/clients/{world.client_a1.pk}/outbound-policy/"))
    for french in ("Politique sortante de Client a1", "Autoriser l'international", "Numéro présenté",
                   "Le numéro principal du client", "Les numéros d'urgence sont toujours autorisés."):  # fmt: skip
        assert french in client_policy, french
    _none_of(client_policy, ["Allow international", "Caller id", "The client's main number", "always allowed"])

    tester = _page(http.get("/routing/test/", {"number": "abc", "country": "DE"}))
    assert "Testeur de routes" in tester and "Ce n'est pas un numéro de téléphone de ce pays" in tester
    _none_of(tester, ["Route tester", "Not a phone number", "Which carriers a call"])


def test_a_client_operator_points_a_number_in_spanish_and_the_api_stays_english(world, portal, api, pstn):
    _speak(world.client_a1_op, "es")
    http = portal(world.client_a1_op)
    url = f"/numbers/{pstn.number_a1.pk}/"
    form = _page(http.get(url))
    for spanish in ("Destino", "Destino fuera de horario", "A ninguna parte (rechazada)", "Horario",
                    "Un usuario (sus dispositivos y luego su desvío)"):  # fmt: skip
        assert spanish in form, spanish
    _none_of(form, ["Goes to", "When closed", "Nowhere (refused)", "An external number"])
    bad = http.post(url, {"destination_kind": "user", "destination_target": "555"})
    assert field_error(bad, "destination_target") == "Ningún usuario tiene la extensión 555."
    saved = http.post(url, {"destination_kind": "user", "destination_target": "101"}, follow=True)
    assert messages_of(saved) == [f"Número {pstn.number_a1.e164} guardado."]
    listed = _page(http.get("/numbers/"))
    assert "usuario 101" in listed and ">Política de salida<" in listed and ">Horarios<" in listed
    _none_of(listed, ["user 101", ">Outbound policy<", ">Schedules<", "Your company's numbers"])

    # The same account through the API: English.
    body = {"destination_kind": "user", "destination_target": "555"}
    refused = api(world.client_a1_op).patch(f"/api/v1/numbers/{pstn.number_a1.pk}/", body, format="json")
    assert refused.status_code == 400 and "No user has extension 555." in str(refused.json())
