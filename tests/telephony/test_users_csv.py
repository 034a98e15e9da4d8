"""A client's users as CSV: the export (their own users only, no secrets) and the import (all or nobody,
every bad row named by line and column, SIP secrets shown once)."""

from __future__ import annotations

import csv
import io
import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from telephony.models import Extension
from telephony.services import sip_ha1
from tenants.models import User
from tests.pages import field_error

HEADER = "extension,name,email,caller_name,sip_username,may_intercept,may_barge\r\n"


def exported(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def upload(http, data: bytes, name: str = "users.csv"):
    return http.post("/users/import/", {"file": SimpleUploadedFile(name, data, content_type="text/csv")})


def report_of(response) -> list[tuple[str, str, str]]:
    """The import report's rows: (line, column, problem)."""
    section = re.search(r'<section class="card errors" role="alert" id="import-report">(.*?)</section>',
                        response.content.decode(), re.S)  # fmt: skip
    assert section, "no import report on the page"
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", section.group(1), re.S)
    return rows


def numbers(world, client=None) -> list[str]:
    with tenant_context(client or world.client_a1):
        return sorted(Extension.objects.values_list("number", flat=True))


def test_export_lists_the_clients_users_without_secrets(world, portal):
    response = portal(world.client_a1_op).get("/users/export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="users-client-a1.csv"' in response["Content-Disposition"]
    rows = exported(response)
    assert [r["extension"] for r in rows] == ["101", "102", "103"]
    assert list(rows[0]) == HEADER.strip().split(",")
    third = rows[2]
    assert (third["email"], third["name"], third["sip_username"]) == ("user3@client-a1.example", "User a1c", "103")
    assert (third["may_intercept"], third["may_barge"], rows[0]["may_barge"]) == ("true", "true", "false")
    with tenant_context(world.client_a1):
        hashes = list(Extension.objects.values_list("ha1_md5", flat=True))
    text = str(rows)
    assert all(h not in text for h in hashes) and "password" not in text.lower()
    other = exported(portal(world.client_b1_op).get("/users/export.csv"))
    assert [r["email"] for r in other] == ["user@client-b1.example"]  # never another client's users
    assert portal(world.user_a1).get("/users/export.csv").status_code == 404
    assert portal(world.brand_a_op).get("/users/export.csv").status_code == 404


def test_an_exported_name_that_looks_like_a_formula_is_neutralised(world, portal):
    with tenant_context(world.client_a1):
        User.objects.filter(pk=world.user_a1.pk).update(name="=HYPERLINK(1)")
    rows = exported(portal(world.client_a1_op).get("/users/export.csv"))
    assert rows[0]["name"] == "'=HYPERLINK(1)"


def test_importing_a_good_file_creates_everyone_and_shows_their_secrets_once(world, portal):
    http = portal(world.client_a1_op)
    data = (HEADER + "150,Nina North,nina@client-a1.example,,,true,false\r\n"
            "151,Otto Ost,otto@client-a1.example,Otto O.,otto151,no,yes\r\n").encode()  # fmt: skip
    response = upload(http, data)
    assert response.status_code == 302 and response["Location"] == "/users/import/done/"
    assert numbers(world) == ["101", "102", "103", "150", "151"]
    with tenant_context(world.client_a1):
        nina = Extension.objects.select_related("account").get(number="150")
        otto = Extension.objects.select_related("account").get(number="151")
    assert (nina.display_name, nina.sip_username, nina.may_intercept, nina.may_barge) == (
        "Nina North",
        "150",
        True,
        False,
    )
    assert (otto.display_name, otto.sip_username, otto.may_intercept, otto.may_barge) == (
        "Otto O.",
        "otto151",
        False,
        True,
    )
    assert otto.account.name == "Otto Ost" and otto.account.client_id == world.client_a1.pk
    assert not nina.account.has_usable_password()  # chosen by its person through the reset link

    done = http.get(response["Location"])
    assert "no-store" in done["Cache-Control"]
    secrets = dict(re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>[^<]*</td><td class=\"secret\">([^<]+)</td>",
                              done.content.decode()))  # fmt: skip
    assert set(secrets) == {"150", "151"}
    for ext in (nina, otto):
        assert sip_ha1(ext.sip_username, world.client_a1.sip_domain, secrets[ext.number])[0] == ext.ha1_md5
    again = http.get(response["Location"]).content.decode()
    assert all(secret not in again for secret in secrets.values())


def test_every_bad_row_is_reported_at_once_and_nobody_is_created(world, portal):
    http = portal(world.client_a1_op)
    data = (HEADER
            + "150,Nina North,nina@client-a1.example,,,,\r\n"  # good
            + "101,Used Number,used@client-a1.example,,,,\r\n"  # line 3: extension in use
            + "152,Bad Mail,not-an-address,,,,\r\n"  # line 4: e-mail
            + "150,Twice,twice@client-a1.example,,,,\r\n"  # line 5: 150 again in the file
            + "153,Flag,flag@client-a1.example,,,maybe,\r\n"  # line 6: not a flag
            + "1a,Letters,letters@client-a1.example,,,,\r\n"  # line 7: not digits
            + "154,Taken Mail,user2@client-a1.example,,,,\r\n"  # line 8: e-mail in use
            + "155,Short\r\n").encode()  # line 9: cells  # fmt: skip
    response = upload(http, data)
    assert response.status_code == 200
    lines = {(line, column) for line, column, _ in report_of(response)}
    assert {("3", "extension"), ("4", "email"), ("5", "extension"), ("6", "may_intercept"), ("7", "extension"),
            ("8", "email"), ("9", "—")} <= lines  # fmt: skip
    assert not any(line == "2" for line, _ in lines)
    assert "nobody was created" in response.content.decode()
    assert numbers(world) == ["101", "102", "103"]
    assert not User.objects.filter(email="nina@client-a1.example").exists()


def test_a_file_that_is_not_utf8_csv_or_is_too_big_is_a_clear_error(world, portal):
    http = portal(world.client_a1_op)
    latin = (HEADER + "150,Zoë Müller,zoe@client-a1.example,,,,\r\n").encode("latin-1")
    assert "not UTF-8" in report_of(upload(http, latin))[0][2]
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
    assert "not UTF-8" in report_of(upload(http, png, "photo.png"))[0][2]
    prose = report_of(upload(http, b"Dear operator, here are the people.\n"))
    assert prose[0][:2] == ("1", "dear operator") and "unknown column" in prose[0][2]
    assert "empty" in field_error(upload(http, b""), "file")
    assert "is empty" in report_of(upload(http, b"\r\n"))[0][2]
    assert "has nobody in it" in report_of(upload(http, HEADER.encode()))[0][2]
    big = upload(http, HEADER.encode() + b"x" * (1024 * 1024 + 1))
    assert big.status_code == 200 and "larger than 1 MB" in big.content.decode()
    assert numbers(world) == ["101", "102", "103"]


def test_an_import_creates_users_of_the_operators_own_client_only(world, portal):
    response = upload(portal(world.client_b1_op), (HEADER + "150,Bea,bea@client-b1.example,,,,\r\n").encode())
    assert response.status_code == 302
    assert numbers(world, world.client_b1) == ["101", "150"] and numbers(world) == ["101", "102", "103"]
    assert upload(portal(world.user_a1), (HEADER + "151,X,x@client-a1.example,,,,\r\n").encode()).status_code == 404


def test_the_api_imports_all_or_nobody_and_exports(world, api):
    http = api(world.client_a1_op)
    bad = (HEADER + "150,Nina,nina@client-a1.example,,,,\r\n102,Used,used@client-a1.example,,,,\r\n").encode()
    refused = http.post("/api/v1/users/import/", {"file": SimpleUploadedFile("u.csv", bad)}, format="multipart")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid-users-file"
    assert [(p["line"], p["column"]) for p in refused.json()["problems"]] == [(3, "extension")]
    assert numbers(world) == ["101", "102", "103"]
    big = SimpleUploadedFile("u.csv", HEADER.encode() + b"x" * (1024 * 1024 + 1))
    too_big = http.post("/api/v1/users/import/", {"file": big}, format="multipart")
    assert too_big.status_code == 400 and too_big.json()["fields"] == {"file": ["The file is larger than 1 MB."]}

    good = (HEADER + "150,Nina,nina@client-a1.example,,,,true\r\n").encode()
    created = http.post("/api/v1/users/import/", {"file": SimpleUploadedFile("u.csv", good)}, format="multipart")
    assert created.status_code == 201 and created.json()["imported"] == 1
    user = created.json()["users"][0]
    assert user["number"] == "150" and user["may_barge"] is True and user["sip_secret"]
    with tenant_context(world.client_a1):
        ext = Extension.objects.get(number="150")
    assert sip_ha1(ext.sip_username, world.client_a1.sip_domain, user["sip_secret"])[0] == ext.ha1_md5

    rows = exported(http.get("/api/v1/users/export/"))
    assert [r["extension"] for r in rows] == ["101", "102", "103", "150"]
    assert api(world.user_a1).get("/api/v1/users/export/").status_code == 404
    assert api(world.brand_a_op).post("/api/v1/users/import/", {"file": SimpleUploadedFile("u.csv", good)},
                                      format="multipart").status_code == 404  # fmt: skip
