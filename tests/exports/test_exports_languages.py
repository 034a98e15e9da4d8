"""The export and CDR push pages speak their account's language (tenants/i18n.py), and so do the push
alerts: each recipient gets the mail in their account's language, an address of nobody's account in the
destination's brand's."""

from __future__ import annotations

import datetime as dt

from django.core import mail

from exports.models import PushDestination
from exports.push import push_destination_run
from tenants.models import Brand
from tests.exports.conftest import T0
from tests.pages import field_error
from tests.pages import page_text as _page
from tests.pages import speak as _speak


def test_a_spanish_operator_exports_and_pushes_in_spanish(world, portal):
    _speak(world.client_a1_op, "es")
    http = portal(world.client_a1_op)
    export = _page(http.get("/exports/"))
    for spanish in ("<h1>Exportación de registros de llamadas</h1>", "Desde</label>", "Hasta</label>",
                    "Sentido</label>", "BOM para hojas de cálculo", "Exportar CSV", "Exportaciones en segundo plano",
                    "Envíos programados a servidores FTP, FTPS o SFTP", "Ninguna todavía."):  # fmt: skip
        assert spanish in export, spanish
    for english in ("Call record export", "BOM for spreadsheets", "Export CSV", "Exports in the background",
                    "None yet."):  # fmt: skip
        assert english not in export, english

    pushes = _page(http.get("/exports/pushes/"))
    assert "<h1>Envíos de CDR</h1>" in pushes and "Nuevo destino" in pushes and "Aún no hay destinos." in pushes
    assert "New destination" not in pushes and "No destination yet." not in pushes
    form = _page(http.get("/exports/pushes/new/"))
    for spanish in ("Nuevo envío de CDR", "Protocolo", "FTPS (TLS explícito)", "Nombre de usuario",
                    "Iniciar sesión con una clave (SFTP)", "Programación", "Cada N minutos", "Correos de alerta",
                    "Vacío: los operadores del ámbito.", "Crear"):  # fmt: skip
        assert spanish in form, spanish
    for english in ("User name", "Log in with a key", "Every N minutes", "Alert e-mails", "Uses key", "Bom"):
        assert english not in form, english

    # Every bad field at once, in Spanish: Django's and the service's.
    bad = http.post("/exports/pushes/new/", {"name": "Contabilidad", "protocol": "ftp", "host": "", "username": "u",
                                             "uses_key": "on", "schedule": "every", "every_minutes": "0"})  # fmt: skip
    assert field_error(bad, "host") == "Este campo es requerido."  # Django's own catalogue
    assert field_error(bad, "uses_key") == "Las claves son para SFTP; FTP y FTPS inician sesión con contraseña."
    assert field_error(bad, "every_minutes") == "Entre 1 y 1440 minutos."
    assert field_error(bad, "secret") == "Indique la contraseña o la clave."


def test_a_push_alert_speaks_each_recipients_language(world, ftp_server, make_cdr, make_destination):
    _speak(world.brand_a_op, "de")
    Brand.objects.filter(pk=world.brand_a.pk).update(language="fr")  # (the brand's choice, for other addresses)
    destination = make_destination(ftp_server, alert_emails="ops@brand-a.example, noc@elsewhere.example")
    make_cdr(world.client_a1, minutes=1)
    ftp_server.stop()
    later = T0 + dt.timedelta(minutes=10)
    PushDestination.objects.filter(pk=destination.pk).update(next_run_at=later)
    push_destination_run(destination.pk, now=later)

    by_address = {tuple(message.to): message for message in mail.outbox}
    assert set(by_address) == {("ops@brand-a.example",), ("noc@elsewhere.example",)}, by_address
    german, french = by_address["ops@brand-a.example",], by_address["noc@elsewhere.example",]
    assert german.subject == "Der CDR-Versand an Billing ist fehlgeschlagen"
    assert "konnte nicht an ftp://127.0.0.1:" in german.body and "geht kein Datensatz verloren" in german.body
    assert french.subject == "L'envoi des CDR vers Billing a échoué"
    assert "n'a pas pu être envoyé à ftp://127.0.0.1:" in french.body and "aucun enregistrement" in french.body
    assert "Connection refused" in german.body and "Connection refused" in french.body  # the server's own words
