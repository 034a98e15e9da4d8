"""The tenants' pages in the account's language: brands, clients, operators, one's account (tokens, second
factor), the platform status, lists' search and pagination; their forms' labels and errors and the services'
refusals and messages. The API keeps speaking English (tenants/i18n.py)."""

from __future__ import annotations

from tests.pages import field_error, messages_of, none_of
from tests.pages import page_text as _text
from tests.pages import speak as _speak


def test_the_operators_list_and_form_speak_german(world, portal):
    _speak(world.client_a1_op, "de")
    http = portal(world.client_a1_op)
    page = _text(http.get("/operators/"))
    for german in ("<h1>Betreiber</h1>", "Neuer Betreiber", 'placeholder="Suchen"', ">Suchen<", ">E-Mail<",
                   ">Anmeldung<", "insgesamt"):  # fmt: skip
        assert german in page, german
    none_of(page, ["New operator", ">Search<", ">Sign-in<", "in all"])

    form = _text(http.get("/operators/new/"))
    assert "<h1>Neuer Betreiber</h1>" in form and "Betreiber anlegen" in form and "Mindestens 10 Zeichen." in form
    none_of(form, ["Create operator", "At least 10 characters."])
    # Every bad field at once, each error in German: Django's own and the services' (the e-mail in use).
    refused = http.post("/operators/new/", {"name": "", "email": world.user_a1.email, "password": "short"})
    assert field_error(refused, "name") == "Dieses Feld ist zwingend erforderlich."
    assert field_error(refused, "email") == "Benutzer mit diesem Wert für das Feld E-Mail existiert bereits."
    assert "zu kurz" in field_error(refused, "password"), field_error(refused, "password")

    created = http.post("/operators/new/", {"name": "Ops Two", "email": "ops2@client-a1.example",
                                            "password": "a-long-password-1"}, follow=True)  # fmt: skip
    assert messages_of(created) == ["Kundenbetreiber ops2@client-a1.example angelegt."]


def test_the_brand_settings_form_and_its_refusals_speak_german(world, portal):
    _speak(world.brand_a_op, "de")
    http = portal(world.brand_a_op)
    page = _text(http.get("/settings/"))
    for german in ("<h1>Einstellungen der Marke</h1>", "Hauptfarbe", "Akzentfarbe", "Weitere Domains",
                   "Weitere Hostnamen für das Portal, einer pro Zeile.", "Logo entfernen", ">Speichern<"):  # fmt: skip
        assert german in page, german
    none_of(page, ["Primary colour", "Other domains", "Remove the logo", "PNG or JPEG"])

    taken = world.host_of(world.user_b1)  # another client's portal
    refused = http.post("/settings/", {"name": "Brand A", "domain": taken, "primary_colour": "blue"})
    assert field_error(refused, "domain") == f"Die Domain {taken} wird bereits verwendet."
    assert field_error(refused, "primary_colour") == "Geben Sie eine Farbe als #rrggbb ein."
    saved = http.post("/settings/", {"name": "Brand A", "domain": "brand-a.localhost"}, follow=True)
    assert messages_of(saved) == ["Marke gespeichert."]


def test_the_clients_pages_and_their_actions_speak_french(world, portal):
    _speak(world.god, "fr")
    http = portal(world.god)
    page = _text(http.get("/clients/"))
    for french in ("<h1>Clients</h1>", "Nouveau client", "Tous les états", ">Filtrer<", ">Nom court<",
                   "Domaine du portail", "Appels max.", ">Enregistrés<"):  # fmt: skip
        assert french in page, french
    none_of(page, ["New client", "Any status", ">Filter<", "Short name", "Max calls", ">Registered<"])
    nothing = _text(http.get("/clients/?q=nobody-at-all"))
    assert "Aucun client ne correspond." in nothing and "0 au total correspondant à « nobody-at-all »" in nothing

    detail = _text(http.get(f"/clients/{world.client_a1.pk}/"))
    for french in ("Contrat et apparence", "Nom court", "Schéma", "Politique sortante", ">Suspendre<",
                   "Nombre maximal d'appels simultanés", "Algorithmes de digest SIP",
                   "Valeur par défaut de la plateforme", "Nouvel opérateur"):  # fmt: skip
        assert french in detail, french
    none_of(detail, ["Contract and look", "Outbound policy", ">Suspend<", "Maximum concurrent calls",
              "Platform default", "New operator"])  # fmt: skip

    taken = world.brand_b.domain
    refused = http.post(f"/clients/{world.client_a1.pk}/", {"name": "Client a2", "kind": "pbx", "max_calls": "0",
                                                           "timezone": "UTC", "domain": taken})  # fmt: skip
    assert field_error(refused, "name") == "Cette marque a déjà un client avec ce nom."
    assert field_error(refused, "max_calls").startswith("Assurez-vous que cette valeur est supérieure ou égale à 1")
    assert field_error(refused, "domain") == f"Le domaine {taken} est déjà utilisé."

    brand = http.post(f"/brands/{world.brand_a.pk}/", {"name": "Brand B", "domain": world.brand_b.domain})
    assert field_error(brand, "name") == "Un objet Marque avec ce champ Nom existe déjà."
    assert field_error(brand, "domain") == "Un objet Marque avec ce champ Domaine existe déjà."

    suspended = http.post(f"/clients/{world.client_a1.pk}/suspend/", follow=True)
    assert messages_of(suspended) == ["Le client Client a1 est suspendu : sa connexion et son API sont fermées."]
    assert ">Activer<" in _text(suspended)


def test_ones_tokens_and_second_factor_pages_speak_spanish(world, portal):
    _speak(world.user_a1, "es")
    http = portal(world.user_a1)
    page = _text(http.get("/account/tokens/"))
    for spanish in ("<h1>Tokens de API</h1>", "La clave empieza por", "Último uso", "Todavía no hay tokens.",
                    "Nuevo token", "Crear token", "Para qué sirve el token"):  # fmt: skip
        assert spanish in page, spanish
    none_of(page, ["Key starts with", "Last used", "No tokens yet.", "Create token", "What the token is for"])
    refused = http.post("/account/tokens/", {"name": ""})
    assert field_error(refused, "name") == "Este campo es requerido."  # Django's own catalogue
    created = http.post("/account/tokens/", {"name": "CRM"}, follow=True)
    assert messages_of(created) == ["Token CRM creado."]
    header = "<code>Authorization: Token &lt;key&gt;</code>"
    assert f"Envíela como {header} a la API de este host." in created.content.decode()
    shown = _text(created)
    assert "Su nueva clave de API" in shown and "Cópiela ahora: no se volverá a mostrar." in shown and "nunca" in shown

    factor = _text(http.get("/account/second-factor/"))
    assert "Configurar un segundo factor" in factor and "Desactivado: al iniciar sesión solo se pide" in factor
    none_of(factor, ["Set up a second factor", "Off: signing in"])
    begun = _text(http.post("/account/second-factor/", {"action": "begin"}, follow=True))
    assert "Configure su aplicación de autenticación" in begun and "Activarlo" in begun
    wrong = http.post("/account/second-factor/", {"action": "confirm", "code": "000000"})
    assert field_error(wrong, "code").startswith("Ese código no es correcto: introduzca los 6 dígitos")


def test_the_platform_status_speaks_german(world, portal):
    from django.conf import settings

    from config.redis_store import get_redis
    from telephony.engine_registry import registry_key

    get_redis().delete(registry_key(settings.OCX_REDIS_PREFIX))  # no engine (an earlier module's may linger)
    _speak(world.god, "de")
    page = _text(portal(world.god).get("/status/"))
    for german in ("<h1>Plattformstatus</h1>", ">Dienst<", "Versionen", "Keine Call-Engine meldet sich.",
                   "Geprüft beim Laden dieser Seite"):  # fmt: skip
        assert german in page, german
    none_of(page, ["Versions", "No call engine announces itself.", "Probed when this page loaded"])


def test_the_api_keeps_english_for_a_german_account(world, api):
    _speak(world.god, "de")
    taken = world.host_of(world.user_b1)
    refused = api(world.god).patch(f"/api/v1/brands/{world.brand_a.pk}/", {"domain": taken}, format="json")
    assert refused.status_code == 400, refused.content
    assert refused.json()["fields"]["domain"] == [f"The domain {taken} is already in use."]
    kept = api(world.god).delete(f"/api/v1/brands/{world.brand_a.pk}/")
    assert kept.status_code == 400 and "Delete or move this brand's clients first." in kept.content.decode()
