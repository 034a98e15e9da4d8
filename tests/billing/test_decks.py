"""Rate decks from CSV: every bad row named and nothing imported; the export reads back the same."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.csvio import NUL_PROBLEM, csv_lines
from billing.decks import COLUMNS, DeckInvalid, deck_csv_rows, parse_deck
from billing.models import Rate
from billing.services import deck_create, deck_import
from tenants.dates import OUT_OF_RANGE
from tests.billing.conftest import HEADER, SELL


def export(deck) -> str:
    return "".join(csv_lines(COLUMNS, deck_csv_rows(deck)))


def snapshot(deck) -> list[tuple]:
    return list(deck.rates.order_by("prefix", "effective_from").values_list(*COLUMNS))


def test_every_bad_row_is_named_and_nothing_is_imported(world, deck_factory):
    deck = deck_factory()
    before = snapshot(deck)
    bad = HEADER + (
        "44,UK,0.02,0,60,60,2026-01-01,\n"  # line 2: good
        "44x,UK,0.02,0,60,60,2026-01-01,\n"  # line 3: prefix
        "33,,abc,0,60,60,2026-01-01,\n"  # line 4: description and price
        "34,Spain,-1,0,60,60,2026-01-01,\n"  # line 5: negative
        "35,Portugal,0.123456,0,60,60,2026-01-01,\n"  # line 6: decimals
        "36,Andorra,0.01,0,60,0,2026-01-01,\n"  # line 7: increment 0
        "37,Monaco,0.01,0,60,60,2026-13-01,\n"  # line 8: date
        "38,Malta,0.01,0,60,60,2026-02-01,2026-01-01\n"  # line 9: ends before it starts
        "44,UK again,0.03,0,60,60,2026-06-01,\n"  # line 10: overlaps line 2
        "39,short\n"  # line 11: cells
    )
    with pytest.raises(DeckInvalid) as raised:
        deck_import(actor=world.brand_a_op, deck=deck, data=bad.encode())
    problems = [(p.line, p.column) for p in raised.value.problems]
    assert problems == [
        (3, "prefix"),
        (4, "description"),
        (4, "price_per_minute"),
        (5, "price_per_minute"),
        (6, "price_per_minute"),
        (7, "increment_seconds"),
        (8, "effective_from"),
        (9, "effective_to"),
        (10, "effective_from"),
        (11, ""),
    ]
    text = [str(p) for p in raised.value.problems]
    assert "Line 4, price_per_minute: 'abc' is not a number (use a dot for decimals, such as 0.0125)." in text
    assert "Line 10, effective_from: prefix 44 is already in effect then (line 2)." in text
    assert "Line 11: has 2 cells; the header has 8." in text
    assert raised.value.message == "The file has 10 problems; nothing was imported."
    assert snapshot(deck) == before


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "File: is empty; its first line names the columns."),
        (b"prefix,price_per_minute\n44,0.1\n", "Line 1, description: is missing."),
        (
            b"prefix,description,price_per_minute,colour\n",
            "Line 1, colour: unknown column; use prefix, description, "
            "price_per_minute, connection_fee, initial_seconds, increment_seconds, effective_from, effective_to.",
        ),
        (HEADER.encode(), "File: has no rates."),
        (b"\xff\xfe" + HEADER.encode("utf-16-le"), "File: is not UTF-8 text."),
    ],
)
def test_whole_file_problems(data, expected):
    with pytest.raises(DeckInvalid) as raised:
        parse_deck(data)
    assert str(raised.value.problems[0]) == expected


def test_defaults_and_forms_accepted():
    rows = parse_deck("\ufeffDescription , Prefix,Price_per_minute\nUK,+44,0.02\n".encode())
    assert rows[0]["prefix"] == "44"
    assert rows[0]["price_per_minute"] == Decimal("0.0200")
    assert rows[0]["connection_fee"] == Decimal("0.0000")
    assert (rows[0]["initial_seconds"], rows[0]["increment_seconds"]) == (60, 60)
    assert rows[0]["effective_from"] == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert rows[0]["effective_to"] is None
    later = parse_deck(b"prefix,description,price_per_minute,effective_from\n44,UK,1,2026-11-01T10:00:00+01:00\n")
    assert later[0]["effective_from"] == dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)


def test_export_round_trip(world, deck_factory):
    deck = deck_factory(csv=SELL + '48,"=HYPERLINK(""x""), Poland",0.0250,0.0100,30,6,2026-01-01T00:00:00+00:00,\n')
    first = export(deck)
    assert first.replace("\r\n", "\n").startswith(SELL.splitlines()[0] + "\n33,France,0.0300,0.0000,60,60,")
    assert "'=HYPERLINK" in first, "the export neutralises formula cells"
    copy = deck_create(actor=world.god, brand=world.brand_a, name="Copy")
    assert deck_import(actor=world.god, deck=copy, data=first.encode()) == 7
    assert snapshot(copy) == snapshot(deck)
    assert export(copy) == first
    assert Rate.objects.get(deck=copy, prefix="48").description == '=HYPERLINK("x"), Poland'
    # The canonical file itself comes back byte for byte.
    assert export(deck_factory(name="Plain")).replace("\r\n", "\n") == SELL


def test_an_import_replaces_the_deck(world, deck_factory):
    deck = deck_factory()
    deck_import(actor=world.god, deck=deck, data=b"prefix,description,price_per_minute\n1,USA,0.01\n")
    assert list(deck.rates.values_list("prefix", flat=True)) == ["1"]


NUL_FILE = b"prefix,description,price_per_minute\n33,France,0.01\n44,United\x00Kingdom,0.02\n"


def test_a_nul_byte_is_a_problem_of_its_line_in_the_api_and_the_portal(world, deck_factory, api, portal):
    """PostgreSQL text cannot hold a NUL: the file is refused with the line, never a server error."""
    deck = deck_factory()
    before = snapshot(deck)
    with pytest.raises(DeckInvalid) as raised:
        parse_deck(NUL_FILE)
    assert [str(p) for p in raised.value.problems] == [f"Line 3, description: {NUL_PROBLEM}"]
    with pytest.raises(DeckInvalid) as raised:
        parse_deck(b"prefix,descr\x00iption,price_per_minute\n33,France,0.01\n")
    assert [str(p) for p in raised.value.problems] == [f"Line 1: {NUL_PROBLEM}"]

    upload = SimpleUploadedFile("deck.csv", NUL_FILE, content_type="text/csv")
    answer = api(world.brand_a_op).post(f"/api/v1/rate-decks/{deck.pk}/import/", {"file": upload}, format="multipart")
    assert answer.status_code == 400
    assert answer.json()["problems"] == [{"line": 3, "column": "description", "message": NUL_PROBLEM}]
    upload = SimpleUploadedFile("deck.csv", NUL_FILE, content_type="text/csv")
    page = portal(world.brand_a_op).post(f"/rating/decks/{deck.pk}/import/", {"file": upload})
    assert page.status_code == 200
    assert "<tr><td>3</td><td>description</td><td>contains a NUL character" in page.content.decode()
    assert snapshot(deck) == before


def test_a_quoted_line_break_inside_a_description_is_csv_and_imports(world, deck_factory, api, portal):
    """A quoted field may hold a CR, a LF or both (RFC 4180); the export writes them back quoted."""
    deck = deck_factory()
    text = b'prefix,description,price_per_minute\r\n33,"France\rmetro",0.01\r\n34,"Spain\nmainland",0.02\r\n'
    text += b'35,"Andorra\r\nla Vella",0.03\r\n'
    upload = SimpleUploadedFile("deck.csv", text, content_type="text/csv")
    answer = api(world.brand_a_op).post(f"/api/v1/rate-decks/{deck.pk}/import/", {"file": upload}, format="multipart")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"imported": 3}
    descriptions = ["France\rmetro", "Spain\nmainland", "Andorra\r\nla Vella"]
    assert list(deck.rates.order_by("prefix").values_list("description", flat=True)) == descriptions
    copy = deck_create(actor=world.god, brand=world.brand_a, name="Copy")
    upload = SimpleUploadedFile("deck.csv", export(deck).encode(), content_type="text/csv")
    page = portal(world.brand_a_op).post(f"/rating/decks/{copy.pk}/import/", {"file": upload})
    assert page.status_code == 302, page.content.decode()
    assert snapshot(copy) == snapshot(deck)


def test_an_effective_date_the_platform_cannot_hold_is_a_problem():
    data = HEADER + "33,France,0.01,0,60,60,9999-12-31T23:00:00-05:00,\n34,Spain,0.01,0,60,60,2026-01-01T00:00+23:00,\n"
    with pytest.raises(DeckInvalid) as raised:
        parse_deck(data.encode())
    assert [(p.line, p.column) for p in raised.value.problems] == [(2, "effective_from"), (3, "effective_from")]
    assert raised.value.problems[0].message == f"'9999-12-31T23:00:00-05:00': {OUT_OF_RANGE}"
