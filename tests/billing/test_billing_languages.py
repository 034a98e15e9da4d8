"""The rating, statements and usage pages speak their account's language (tenants/i18n.py): headings,
labels, buttons, choices, the services' refusals and the deck import's report; the API stays English."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.billing.conftest import HEADER
from tests.pages import field_error, messages_of
from tests.pages import page_text as _page
from tests.pages import speak as _speak


def test_a_german_brand_operator_rates_in_german(world, portal, carrier_factory):
    _speak(world.brand_a_op, "de")
    http = portal(world.brand_a_op)
    carrier_factory()  # the platform's, beside the brand's own
    carriers = _page(http.get("/rating/carriers/"))
    for german in ("<h1>Carrier</h1>", "Tariftabellen", "Preismodelle", "Nicht tarifierte Anrufe", "Neuer Carrier",
                   "Priorität", "Aktiviert", "Tarife", "Ihre eigenen Carrier bedienen nur Ihre Marke"):  # fmt: skip
        assert german in carriers, german
    for english in ("Rate decks", "Pricing plans", "Unrated calls", "New carrier", "Priority", ">Enabled<",
                    ">Rates<", "Your own carriers"):  # fmt: skip
        assert english not in carriers, english

    form = _page(http.get("/rating/carriers/new/"))
    for german in ("Neuer Carrier", "Maximale gleichzeitige Anrufe", "Rufnummernformat",
                   "Internationale Vorwahl 00 (00493012345678)", "Carrier anlegen", "Abbrechen"):  # fmt: skip
        assert german in form, german
    assert "Maximum concurrent calls" not in form and "Number format" not in form and "Create carrier" not in form

    # Every bad field at once, each in German: Django's own error and the service's.
    bad = http.post("/rating/carriers/new/", {"name": "Carrier One", "priority": "x", "country": "XX",
                                              "codecs": "PCMU,MP3"})  # fmt: skip
    assert field_error(bad, "name") == "Ein Carrier namens Carrier One existiert bereits."
    assert field_error(bad, "priority") == "Bitte eine ganze Zahl eingeben."
    assert field_error(bad, "country").startswith("Verwenden Sie einen zweistelligen ISO-3166-Ländercode")
    assert field_error(bad, "codecs").startswith("Geben Sie die Codecs durch Kommas getrennt an")

    created = http.post("/rating/decks/new/", {"name": "Retail", "currency": "EUR"}, follow=True)
    assert messages_of(created) == ["Tariftabelle Retail angelegt; importieren Sie ihre Tarife aus einer CSV-Datei."]
    upload = _page(created)
    assert "Tarife in Retail importieren" in upload and "CSV-Datei" in upload and "Importieren" in upload
    assert "Import rates into" not in upload and "CSV file" not in upload
    again = http.post("/rating/decks/new/", {"name": "retail", "currency": "EURO"})
    assert field_error(again, "name") == "Die Marke hat bereits eine Tariftabelle namens retail."
    assert "höchstens 3 Zeichen" in field_error(again, "currency")  # Django's own catalogue

    bad_file = HEADER + "44,UK,0.02,0,60,60,2026-01-01,\n4x,Bad,-1,0,60,60,,\n"
    import_url = created.redirect_chain[-1][0]
    report = _page(http.post(import_url, {"file": SimpleUploadedFile("deck.csv", bad_file.encode())}))
    assert "Die Datei hat 2 Probleme; nichts wurde importiert." in report
    assert "'4x' hat nicht 1 bis 20 Ziffern." in report and "darf nicht negativ sein." in report
    assert "<th>Zeile</th><th>Spalte</th><th>Problem</th>" in report
    assert "problems; nothing was imported" not in report and "is not 1 to 20 digits" not in report


def test_statements_and_usage_in_french_and_an_english_account_beside(world, portal, cdr_factory):
    _speak(world.client_a1_op, "fr")
    http = portal(world.client_a1_op)
    statements = _page(http.get("/statements/"))
    for french in ("<h1>Relevés</h1>", "Mois civils en UTC", "Appels tarifés", "Forfait mensuel", "Total",
                   "Pas encore de relevé."):  # fmt: skip
        assert french in statements, french
    for english in ("Calendar months", "Rated calls", "Monthly fee", "No statements yet."):
        assert english not in statements, english

    usage = _page(http.get("/usage/", {"since": "2026-11-01", "until": "2026-11-30"}))
    for french in ("<h1>Consommation</h1>", "Événements et minutes par personne et service", "Du</label>",
                   "Au</label>", "Service</label>", "Afficher", "Aucune consommation sur ces jours.",
                   "Aucun appel sur cette période."):  # fmt: skip
        assert french in usage, french
    for english in ("Events and minutes", "No usage in these days.", ">Show<", "No calls in this period."):
        assert english not in usage, english
    refused = http.get("/usage/", {"since": "2026-11-01", "until": "2026-11-30", "service": "fax"})
    assert "Sélectionnez un choix valide" in field_error(refused, "service")  # Django's, on our choices

    # A month with a call: the record's codes in words of the page (the CSV keeps the codes).
    cdr_factory(world.client_a1, number="442071234567", seconds=61)
    detail = _page(http.get(f"/statements/{world.client_a1.pk}/2026-11/"))
    assert "<td>appel</td><td>sortant</td>" in detail and "Relevé de Client a1, novembre 2026" in detail
    assert "<td>call</td>" not in detail and "Statement of" not in detail
    usage = _page(http.get("/usage/", {"since": "2026-11-01", "until": "2026-11-30"}))
    assert "<td>appel</td>" in usage and "Minutes par jour" in usage and "Appels par heure de la journée" in usage
    assert "Minutes per day" not in usage and "bars; total" not in usage

    # An operator of another company, without a language, keeps English.
    english = _page(portal(world.client_b1_op).get("/statements/"))
    assert "<h1>Statements</h1>" in english and "Calendar months in UTC" in english


def test_the_deck_api_answers_in_english_whatever_the_accounts_language(world, api, deck_factory):
    _speak(world.brand_a_op, "de")
    deck = deck_factory()
    bad_file = HEADER + "4x,Bad,-1,0,60,60,,\n"
    answer = api(world.brand_a_op).post(f"/api/v1/rate-decks/{deck.pk}/import/",
                                        {"file": SimpleUploadedFile("deck.csv", bad_file.encode())})  # fmt: skip
    assert answer.status_code == 400, answer.content
    assert answer.headers["Content-Language"] == "en"
    assert "The file has 2 problems; nothing was imported." in answer.json()["detail"]
    assert any("is not 1 to 20 digits" in p["message"] for p in answer.json()["problems"]), answer.json()
