"""Call recording's pages speak their account's language (tenants/i18n.py): the recordings list, the
recording settings and a user's own choice (headings, labels, choices, buttons, the services' refusals),
the status page's disk table and the disk mail; the API stays English."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from django.conf import settings
from django.core import mail
from django_tenants.utils import tenant_context

from config.redis_store import get_redis, rkey
from recordings.models import Recording, RecordingPolicy
from recordings.tasks import disk_watch
from tests.pages import field_error, messages_of
from tests.pages import page_text as _page
from tests.pages import speak as _speak


def _set_policy(world, **fields) -> None:
    with tenant_context(world.client_a1):
        RecordingPolicy.objects.update_or_create(pk=1, defaults=fields)


def _recordings(world, *accounts) -> list[Path]:
    """A call's recording and a conference's, each with a small file; their paths (to remove)."""
    now = dt.datetime.now(dt.UTC)
    paths = []
    with tenant_context(world.client_a1):
        for kind, conference in ((Recording.Kind.CALL, ""), (Recording.Kind.CONFERENCE, "7001")):
            file = f"{world.client_a1.pk}/tests/{time.monotonic_ns()}.wav"
            path = Path(settings.OCX_RECORDINGS_DIR) / file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(1024))
            paths.append(path)
            Recording.objects.create(kind=kind, conference=conference, caller="101", callee="102", started_at=now,
                                     ended_at=now + dt.timedelta(seconds=4), seconds=4, file=file,
                                     accounts=[a.pk for a in accounts])  # fmt: skip
    return paths


def test_a_german_operator_lists_and_sets_recording_in_german(world, portal):
    _speak(world.client_a1_op, "de")
    http = portal(world.client_a1_op)
    paths = _recordings(world, world.user_a1)
    try:
        page = _page(http.get("/recordings/"))
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
    for german in ("<h1>Aufzeichnungen</h1>", "Anrufaufzeichnungen halten jeden Gesprächspartner",
                   "Sie werden 90 Tage aufbewahrt.", ">Aufzeichnungseinstellungen</a>", "<th>Beginn</th>",
                   "<th>Anruf</th>", "<th>Länge</th>", "<th>Anhören</th>", ">Herunterladen</a>", "Konferenz 7001",
                   'aria-label="Aufzeichnung '):  # fmt: skip
        assert german in page, german
    for english in ("Call recordings hold", "They are kept", "Recording settings", ">Started<", ">Length<",
                    ">Listen<", ">Download<", "Conference 7001", "Listen to recording"):  # fmt: skip
        assert english not in page, english
    searched = _page(http.get("/recordings/", {"q": "zzz"}))
    assert "Keine Aufzeichnungen passen zu „zzz“." in searched and "No recordings" not in searched

    form = _page(http.get("/recordings/settings/"))
    for german in ("<h1>Aufzeichnungseinstellungen</h1>", "Anrufe aufzeichnen", "Ansagen", "Nie", "Immer",
                   "Auf Anforderung (*1 während des Anrufs, oder die API)", "Aufzeichnungen aufbewahren (Tage)",
                   "1 bis 3650; ältere werden gelöscht.", "Benutzer entscheiden für ihre eigenen Anrufe",
                   "Beide Gesprächspartner hören, dass der Anruf aufgezeichnet wird.", "Speichern",
                   "Auf Anforderung: Ein Gesprächspartner drückt während des Anrufs *1"):  # fmt: skip
        assert german in form, german
    for english in ("Record calls", "Announce it", ">Never<", ">Always<", "On demand", "Keep recordings",
                    "older ones are removed", "Users choose", ">Save<", "a party presses"):  # fmt: skip
        assert english not in form, english

    # Every bad field at once, each in German: Django's own error and the service's.
    bad = http.post("/recordings/settings/", {"mode": "sometimes", "retention_days": "0"})
    assert field_error(bad, "mode").startswith("Bitte eine gültige Auswahl treffen."), field_error(bad, "mode")
    assert field_error(bad, "retention_days") == "Eine ganze Zahl von Tagen von 1 bis 3650."
    saved = http.post("/recordings/settings/", {"mode": "on_demand", "retention_days": "1"}, follow=True)
    assert messages_of(saved) == ["Aufzeichnungseinstellungen gespeichert: Die nächsten Anrufe folgen ihnen."]
    assert "Sie werden 1 Tag aufbewahrt." in _page(http.get("/recordings/"))  # one day: the singular


def test_a_french_user_chooses_and_listens_in_french(world, portal):
    _speak(world.user_a1, "fr")
    http = portal(world.user_a1)
    closed = _page(http.get("/recordings/"))
    assert "<h1>Mes enregistrements</h1>" in closed
    assert "Votre entreprise ne permet pas aux utilisateurs d'écouter les enregistrements de leurs appels." in closed
    assert "My recordings" not in closed and "does not let users hear" not in closed

    mine = _page(http.get("/phone/recording/"))
    for french in ("<h1>Enregistrement de mes appels</h1>", "Votre entreprise : jamais.",
                   "À la demande : appuyez sur *1 pendant un appel", "Enregistrer mes appels",
                   "Comme l'entreprise l'a choisi", "Toujours", "Jamais", "À la demande",
                   "Votre entreprise enregistre les appels comme elle l'a choisi : les utilisateurs ne choisissent "
                   "pas."):  # fmt: skip
        assert french in mine, french
    for english in ("Recording of my calls", "Your company", "press *1", "Record my calls", "As the company chose",
                    ">Always<", ">Never<", "users do not choose"):  # fmt: skip
        assert english not in mine, english

    _set_policy(world, users_choose=True, users_listen=True, mode="always")
    assert "Votre entreprise : toujours." in _page(http.get("/phone/recording/"))
    bad = http.post("/phone/recording/", {"mode": "loud"})
    assert field_error(bad, "mode").startswith("Sélectionnez un choix valide."), field_error(bad, "mode")
    saved = http.post("/phone/recording/", {"mode": "on_demand"}, follow=True)
    assert messages_of(saved) == ["Enregistré : vos prochains appels le suivent."]

    paths = _recordings(world, world.user_a1)
    try:
        page = _page(http.get("/recordings/"))
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
    for french in ("<h1>Mes enregistrements</h1>", "Ils sont conservés 90 jours.", "<th>Début</th>",
                   "<th>Écouter</th>", ">Télécharger</a>"):  # fmt: skip
        assert french in page, french
    assert "Recording settings" not in page and "Aufzeichnung" not in page  # an operator's button only


def test_the_status_pages_disk_and_the_disk_mail_in_german(world, portal, settings):
    _speak(world.god, "de")
    settings.OCX_VOICEMAIL_DIR = ""
    settings.OCX_DISK_CHECK_SECONDS = 0
    settings.OCX_DISK_WARN, settings.OCX_DISK_FULL = "0%", "100%"
    page = _page(portal(world.god).get("/status/"))
    for german in ("<h2>Festplatte der Aufzeichnungen</h2>", "<th>Verzeichnis</th>", "<th>Frei</th>",
                   "<th>Größe</th>", "voll: keine neuen Aufzeichnungen"):  # fmt: skip
        assert german in page, german
    for english in ("Recordings' disk", ">Directory<", ">Free<", ">Size<", "full: no new recordings"):
        assert english not in page, english
    settings.OCX_DISK_WARN, settings.OCX_DISK_FULL = "100%", "0"
    assert "knapp: Betreiber per E-Mail benachrichtigt" in _page(portal(world.god).get("/status/"))

    key = rkey(f"disk:state:{settings.OCX_RECORDINGS_DIR}")
    get_redis().delete(key)
    mail.outbox.clear()
    try:
        disk_watch()
    finally:
        get_redis().delete(key)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [world.god.email]
    assert mail.outbox[0].subject == f"Festplatte fast voll: {settings.OCX_RECORDINGS_DIR}"
    assert "Der freie Speicherplatz auf der Festplatte mit" in mail.outbox[0].body and "GB" in mail.outbox[0].body
    assert "running low" not in mail.outbox[0].body


def test_the_recording_api_answers_in_english_whatever_the_accounts_language(world, api):
    _speak(world.client_a1_op, "de")
    _speak(world.user_a1, "de")
    bad = api(world.client_a1_op).put("/api/v1/recording-policy/", {"mode": "sometimes", "retention_days": 0},
                                      format="json")  # fmt: skip
    assert bad.status_code == 400 and bad.headers["Content-Language"] == "en"
    fields = bad.json()["fields"]
    assert fields["retention_days"] == ["A whole number of days from 1 to 3650."], fields
    assert fields["mode"] == ["Choose one of: never, always, on_demand."], fields
    refused = api(world.user_a1).put("/api/v1/me/recording/", {"mode": "always"}, format="json")
    assert refused.json()["fields"]["mode"] == ["Your company records calls as it chose: users do not choose."]
