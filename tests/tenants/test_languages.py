"""The portals' languages (tenants/i18n.py): the account's, else its client's, else its brand's, else
English; the sign-in page speaks the browser's last account's language; the API speaks English."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from django.conf import settings
from django.test import Client as HttpClient
from django.utils import translation

from tenants.services import account_update, client_update
from tests.conftest import PASSWORD
from tests.mailbox import mailbox_fixture, smtp_server_fixture  # noqa: F401 (the mailbox fixtures)
from tests.pages import field_error, messages_of

LOCALE = Path(settings.BASE_DIR) / "locale"


def _page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _speak(account, language: str) -> None:
    account_update(actor=account, account=account, language=language)


def test_an_account_in_french_sees_the_nav_and_its_dashboard_in_french(world, portal):
    _speak(world.client_a1_op, "fr")
    page = _page(portal(world.client_a1_op).get("/"))
    assert '<html lang="fr">' in page
    for french in ("Tableau de bord", "Utilisateurs", "Conférences", "Mon compte", "Se déconnecter",
                   "appels en cours", "Pourquoi des appels ont échoué aujourd'hui"):  # fmt: skip
        assert french in page, french
    assert "Sign out" not in page and ">Users<" not in page
    _speak(world.god, "fr")
    god = _page(portal(world.god).get("/"))
    assert "Tableau de bord de la plateforme" in god and "Moteurs d'appels" in god
    assert "Opérateur de la plateforme" in god and ">Actif<" in god  # roles' and statuses' names
    # The texts the live script writes into rebuilt rows come from the page, in its language.
    assert 'data-text-calls-of="{calls} sur {capacity}"' in god and 'data-text-ago="il y a {age} s"' in god
    # The employee beside it, without a choice of their own, still speaks English (their client's default).
    english = _page(portal(world.user_a1).get("/"))
    assert '<html lang="en">' in english and "My calls" in english and "Sign out" in english


def test_the_sign_in_page_speaks_the_language_of_the_browsers_last_account(world):
    account = world.client_a1_op
    _speak(account, "fr")
    browser = HttpClient(HTTP_HOST=world.host_of(account), REMOTE_ADDR="198.51.100.40")
    before = _page(browser.get("/login/"))
    assert "Sign in" in before and "Forgot your password?" in before  # nobody has signed in here yet

    signed_in = browser.post("/login/", {"username": account.email, "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    signed_out = browser.post("/logout/", follow=True)
    page = _page(signed_out)
    assert "Vous êtes déconnecté." in page
    assert "Connexion à Client a1" in page and "Se connecter" in page and "Mot de passe oublié ?" in page
    assert "Adresse e-mail" in page and "Mot de passe" in page  # the form's labels (ours and Django's)
    # Django's own form errors speak it too: a wrong password, an empty field.
    wrong = _page(browser.post("/login/", {"username": account.email, "password": "not-the-password"}))
    assert "Saisissez un" in wrong and "Please enter" not in wrong
    empty = browser.post("/login/", {"username": account.email, "password": ""})
    assert field_error(empty, "password") == "Ce champ est obligatoire."
    reset = _page(browser.get("/login/reset/"))
    assert "Réinitialisez votre mot de passe" in reset and "Envoyer le lien" in reset


def test_the_client_language_applies_to_its_users_without_their_own(world, portal):
    client_update(actor=world.client_a1_op, client=world.client_a1, language="de")
    _speak(world.user_a1b, "es")
    german = _page(portal(world.user_a1).get("/"))
    assert '<html lang="de">' in german and "Meine Anrufe" in german and "Abmelden" in german
    assert "Bienvenido/a" in _page(portal(world.user_a1b).get("/"))  # their own choice wins
    assert "My calls" in _page(portal(world.user_b1).get("/"))  # another brand's client: English
    # Before signing in, with no account's choice in the browser: the portal's language.
    login = _page(HttpClient(HTTP_HOST=world.host_of(world.user_a1)).get("/login/"))
    assert "Bei Client a1 anmelden" in login and "Passwort vergessen?" in login


def test_a_brand_language_applies_to_its_clients_without_their_own(world, portal):
    brand_page = portal(world.brand_a_op).post("/settings/", {"name": "Brand A", "domain": "brand-a.localhost",
                                                             "language": "es"})  # fmt: skip
    assert brand_page.status_code == 302, field_error(brand_page, "language")
    assert "Mis llamadas" in _page(portal(world.user_a1).get("/"))
    assert "Panel de Brand A" in _page(portal(world.brand_a_op).get("/"))
    # The brand chooses for one of its clients on the client's page (the client's operators in its settings).
    client_page = _page(portal(world.brand_a_op).get(f"/clients/{world.client_a1.pk}/"))
    assert 'name="language"' in client_page and "El de la marca" in client_page
    client_update(actor=world.brand_a_op, client=world.client_a1, language="fr")
    assert "Mes appels" in _page(portal(world.user_a1).get("/"))
    assert "My calls" in _page(portal(world.user_b1).get("/"))


def test_the_password_reset_mail_speaks_the_accounts_language(world, mailbox):
    _speak(world.user_a1, "de")
    browser = HttpClient(HTTP_HOST=world.host_of(world.user_a1), REMOTE_ADDR="198.51.100.41")
    asked = browser.post("/login/reset/", {"email": world.user_a1.email}, follow=True)
    assert "If an account with that address" in messages_of(asked)[0]  # the page: nobody known in this browser
    (mail,) = mailbox.messages
    assert mail["Subject"] == "Passwort für Client a1 zurücksetzen"
    body = mail.get_content()
    assert body.startswith("Hallo User a1,") and "innerhalb von 1 Stunde" in body and "/login/reset/" in body


def test_a_missing_translation_falls_back_to_english(world, portal):
    with translation.override("de"):
        assert translation.gettext("Sign out") == "Abmelden"
        assert translation.gettext("A sentence no catalogue holds.") == "A sentence no catalogue holds."
    _speak(world.client_a1_op, "de")
    # What people typed stays as typed in a German page (a token's name that is also a catalogue's msgid).
    http = portal(world.client_a1_op)
    assert http.post("/account/tokens/", {"name": "Sign out"}).status_code == 302
    page = _page(http.get("/account/tokens/"))
    assert "Abmelden" in page and "<td>Sign out</td>" in page and "Token erstellen" in page


def test_choosing_a_language_on_the_account_page(world, portal):
    http = portal(world.user_a1)
    profile = _page(http.get("/account/"))
    assert "Language of the portal" in profile and "Default: English" in profile
    saved = http.post("/account/", {"name": world.user_a1.name, "email": world.user_a1.email, "language": "fr"})
    assert saved.status_code == 302 and saved.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    after = http.get("/account/")
    assert messages_of(after) == ["Profil enregistré."] and "Langue du portail" in _page(after)
    world.user_a1.refresh_from_db()
    assert world.user_a1.language == "fr"


def test_the_language_fields_refuse_unknown_codes(world, portal, api):
    http = portal(world.user_a1)
    refused = http.post("/account/", {"name": "", "email": world.user_a1.email, "language": "xx"})
    assert field_error(refused, "language").startswith("Select a valid choice.")
    assert field_error(refused, "name") == "This field is required."  # every bad field at once
    settings_page = portal(world.client_a1_op).post("/settings/", {"timezone": "UTC", "language": "klingon"})
    assert field_error(settings_page, "language").startswith("Select a valid choice.")

    me = api(world.user_a1).patch("/api/v1/me/", {"language": "xx"}, format="json")
    assert me.status_code == 400 and "language" in me.json()["fields"], me.content
    brand = api(world.god).patch(f"/api/v1/brands/{world.brand_a.pk}/", {"language": "en-gb"}, format="json")
    assert brand.status_code == 400 and "language" in brand.json()["fields"], brand.content
    client = api(world.brand_a_op).patch(f"/api/v1/clients/{world.client_a1.pk}/", {"language": "zz"}, format="json")
    assert client.status_code == 400 and "language" in client.json()["fields"], client.content
    for account in (world.user_a1, world.brand_a, world.client_a1):
        account.refresh_from_db()
        assert account.language == ""

    chosen = api(world.user_a1).patch("/api/v1/me/", {"language": "de"}, format="json")
    assert chosen.status_code == 200 and chosen.json()["language"] == "de"


def test_the_api_speaks_english_to_every_account(world, api):
    _speak(world.user_a1, "fr")
    refused = api(world.user_a1).patch("/api/v1/me/", {"name": ""}, format="json")
    assert refused.status_code == 400 and refused.headers["Content-Language"] == "en"
    assert refused.json()["fields"]["name"] == ["This field may not be blank."]


def test_every_message_of_the_portals_is_translated_in_each_language():
    """msgid -> msgstr for es, fr and de: the same messages, none empty or fuzzy (makemessages, then translate).

    THE CATALOGUES' GATE, for every part of the portals (tenants, telephony and pstn, billing, conferencing
    and exports): GNU gettext's own count (`msgfmt --check --statistics`) must say only "N translated
    messages." for each language, and the placeholders of each translation must match its msgid (--check).
    A part that wraps a text and leaves its msgstr empty (or a makemessages guess flagged fuzzy) fails here:
    on one part's branch it holds for that part's entries; after the parts' .po files are merged (msgcat), for
    all of them."""
    for language in ("es", "fr", "de"):
        po = LOCALE / language / "LC_MESSAGES" / "django.po"
        checked = subprocess.run(["msgfmt", "--check", "--statistics", "-o", os.devnull, str(po)],
                                 capture_output=True, text=True)  # fmt: skip
        assert checked.returncode == 0, (language, checked.stderr)
        assert re.fullmatch(r"\d+ translated messages?\.", checked.stderr.strip()), (language, checked.stderr)
    catalogues = {}
    for language in ("es", "fr", "de"):
        text = (LOCALE / language / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
        # After the header; makemessages' obsolete entries (#~, a msgid no code holds any more) do not count.
        entries = [entry for entry in text.split("\n\n")[1:] if re.search(r"^msgid ", entry, re.M)]
        assert "#, fuzzy" not in text, language
        empty = [entry for entry in entries if re.search(r'^msgstr(\[\d\])? ""$', entry, re.M)
                 and not re.search(r'^msgstr(\[\d\])? ""\n"', entry, re.M)]  # fmt: skip
        assert not empty, (language, empty[:3])
        catalogues[language] = {re.search(r'^msgid "(.*)"', entry, re.M).group(1) for entry in entries}
    assert catalogues["es"] == catalogues["fr"] == catalogues["de"] and len(catalogues["fr"]) > 100
