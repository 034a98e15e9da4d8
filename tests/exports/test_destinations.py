"""Push destinations in the portals (each scope its own, credentials encrypted), their schedules and
the beat's choice of due destinations, and the credential keys."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError

from exports.crypto import decrypt, encrypt
from exports.models import PushDestination
from exports.push import push_destinations_due
from exports.schedule import next_run_after, retry_after
from exports.services import push_destination_create
from tests.exports.conftest import FTP_PASSWORD, T0
from tests.pages import field_error

FORM = {"name": "Billing box", "protocol": "ftp", "host": "files.example.net", "port": "", "username": "cdrs",
        "secret": "s3cret-pass", "remote_dir": "incoming", "schedule": "every", "every_minutes": "15",
        "tls_verify": "on", "enabled": "on"}  # fmt: skip


def test_operators_manage_their_own_destinations(world, portal):
    brand = portal(world.brand_a_op)
    response = brand.post("/exports/pushes/new/", {**FORM, "client": world.client_a2.pk})
    assert response.status_code == 302, response.content.decode()[-2000:]
    destination = PushDestination.objects.get(name="Billing box")
    assert (destination.brand_id, destination.client_id) == (world.brand_a.pk, world.client_a2.pk)
    assert "s3cret-pass" not in destination.secret and decrypt(destination.secret) == "s3cret-pass"
    page = brand.get(f"/exports/pushes/{destination.pk}/").content.decode()
    assert "ftp://files.example.net:21/incoming" in page and "s3cret" not in page
    assert "Billing box" in portal(world.client_a2_op).get("/exports/pushes/").content.decode()
    assert "Billing box" in portal(world.god).get("/exports/pushes/").content.decode()
    for outsider in (world.brand_b_op, world.client_a1_op, world.client_b1_op):
        assert portal(outsider).get(f"/exports/pushes/{destination.pk}/").status_code == 404, outsider
        assert "Billing box" not in portal(outsider).get("/exports/pushes/").content.decode()
    assert portal(world.user_a1).get("/exports/pushes/").status_code == 404, "users do not manage pushes"

    edit = {**FORM, "secret": "", "host": "other.example.net", "schedule": "daily", "daily_at": "02:30"}
    assert brand.post(f"/exports/pushes/{destination.pk}/edit/", edit).status_code == 302
    destination.refresh_from_db()
    assert destination.host == "other.example.net" and decrypt(destination.secret) == "s3cret-pass", "kept"
    assert destination.next_run_at.astimezone(dt.UTC).time() == dt.time(2, 30), "client a2's zone is UTC"

    other = portal(world.brand_b_op).post("/exports/pushes/new/", {**FORM, "client": world.client_a1.pk})
    assert other.status_code == 200 and "Select a valid choice" in other.content.decode()
    assert brand.post(f"/exports/pushes/{destination.pk}/delete/").status_code == 302
    assert not PushDestination.objects.filter(pk=destination.pk).exists()


def test_a_client_operators_destination_is_the_clients(world, portal):
    response = portal(world.client_a1_op).post("/exports/pushes/new/", {**FORM, "protocol": "sftp"})
    assert response.status_code == 302
    destination = PushDestination.objects.get(name="Billing box")
    assert (destination.client_id, destination.brand_id, destination.address) == (
        world.client_a1.pk, world.brand_a.pk, "sftp://files.example.net:22/incoming")  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"protocol": "ftp", "uses_key": True}, "uses_key"),
        ({"protocol": "sftp", "uses_key": True}, "secret"),
        ({"protocol": "sftp", "host_key": "not a key"}, "host_key"),
        ({"schedule": "daily"}, "daily_at"),
        ({"every_minutes": 0}, "every_minutes"),
        ({"remote_dir": "../../etc"}, "remote_dir"),
        ({"protocol": "gopher"}, "protocol"),
    ],
)
def test_destination_field_errors(world, fields, field):
    values = {"name": "x", "protocol": "ftp", "host": "h.example", "username": "u", "secret": FTP_PASSWORD,
              "schedule": "every", "every_minutes": 5, **fields}  # fmt: skip
    with pytest.raises(ValidationError) as error:
        push_destination_create(actor=world.brand_a_op, **values)
    assert field in error.value.message_dict


def test_a_destination_form_shows_every_bad_field_at_once_with_real_labels(world, portal):
    """Fields the form refuses (port, a missing name) do not hide what the service refuses (a key on FTP,
    a daily push without its time, a directory outside the account, no password)."""
    http = portal(world.client_a1_op)
    bad = {**FORM, "name": "", "port": "x", "uses_key": "on", "schedule": "daily", "daily_at": "",
           "remote_dir": "../../etc", "secret": ""}  # fmt: skip
    response = http.post("/exports/pushes/new/", bad)
    assert response.status_code == 200
    for field in ("name", "port", "uses_key", "daily_at", "remote_dir", "secret"):
        assert field_error(response, field), field
    assert 'value="files.example.net"' in response.content.decode()
    assert not PushDestination.objects.filter(host="files.example.net").exists()
    assert http.post("/exports/pushes/new/", FORM).status_code == 302
    destination = PushDestination.objects.get(name="Billing box")
    edited = http.post(f"/exports/pushes/{destination.pk}/edit/", {**bad, "secret": "x"})
    for field in ("name", "port", "uses_key", "daily_at", "remote_dir"):
        assert field_error(edited, field), field
    assert PushDestination.objects.get(pk=destination.pk).remote_dir == "incoming"
    page = http.get("/exports/pushes/new/").content.decode()
    labels = [html.unescape(label) for label in re.findall(r'<label for="id_[a-z_]+">([^<]+)</label>', page)]
    assert "Check the server's certificate (FTPS)" in labels and "BOM for spreadsheets" in labels
    assert not {"Uses key", "Tls verify", "Every minutes", "Bom"} & set(labels), labels


def test_schedules(world):
    every = PushDestination(schedule="every", every_minutes=15)
    assert next_run_after(every, T0 + dt.timedelta(minutes=7)) == T0 + dt.timedelta(minutes=15)
    assert next_run_after(every, T0) == T0 + dt.timedelta(minutes=15), "strictly after"
    hourly = PushDestination(schedule="hourly")
    assert next_run_after(hourly, T0 + dt.timedelta(minutes=1)) == T0 + dt.timedelta(hours=1)
    world.client_a1.timezone = "Europe/Paris"
    daily = PushDestination(schedule="daily", daily_at=dt.time(1, 0), client=world.client_a1)
    assert next_run_after(daily, T0) == dt.datetime(2026, 11, 3, 0, 0, tzinfo=dt.UTC), "01:00 in Paris"
    brand_daily = PushDestination(schedule="daily", daily_at=dt.time(1, 0))
    assert next_run_after(brand_daily, T0) == dt.datetime(2026, 11, 3, 1, 0, tzinfo=dt.UTC)
    assert [retry_after(n, T0) - T0 for n in (1, 2, 3, 7, 20)] == [dt.timedelta(seconds=s)
                                                                    for s in (60, 120, 240, 3600, 3600)]  # fmt: skip


def test_due_destinations(world):
    destination = push_destination_create(actor=world.brand_a_op, name="x", protocol="ftp", host="h.example",
                                          username="u", secret="p", starts_at=T0)  # fmt: skip
    PushDestination.objects.filter(pk=destination.pk).update(next_run_at=T0)
    assert destination.pk in push_destinations_due(T0)
    assert destination.pk not in push_destinations_due(T0 - dt.timedelta(seconds=1))
    PushDestination.objects.filter(pk=destination.pk).update(lease_until=T0 + dt.timedelta(minutes=5))
    assert destination.pk not in push_destinations_due(T0), "a worker holds it"
    PushDestination.objects.filter(pk=destination.pk).update(lease_until=None, enabled=False)
    assert destination.pk not in push_destinations_due(T0)


def test_credential_keys_rotate(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.OCX_CREDENTIALS_KEY = old
    stored = encrypt("pass")
    settings.OCX_CREDENTIALS_KEY = f"{new},{old}"
    assert decrypt(stored) == "pass"
    assert Fernet(new.encode()).decrypt(encrypt("pass").encode()) == b"pass", "the first key encrypts"
    settings.OCX_CREDENTIALS_KEY = new
    with pytest.raises(Exception, match="cannot be decrypted"):
        decrypt(stored)
