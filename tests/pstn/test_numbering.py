"""Numbers as users dial them and carriers write them (pstn/numbering.py)."""

from __future__ import annotations

import pytest

from pstn.numbering import classify, from_carrier, national, to_carrier


@pytest.mark.parametrize(
    ("dialled", "country", "e164", "kind"),
    [
        # Germany: national, 00, +; mobile, toll-free, premium; emergency
        ("030 12345678", "DE", "+493012345678", "national"),
        ("0049 30 12345678", "DE", "+493012345678", "national"),
        ("+49 (30) 1234-5678", "DE", "+493012345678", "national"),
        ("0151 23456789", "DE", "+4915123456789", "mobile"),
        ("0800 1234567", "DE", "+498001234567", "tollfree"),
        ("0900 1234567", "DE", "+499001234567", "premium"),
        ("0044 20 7946 0958", "DE", "+442079460958", "international"),
        ("112", "DE", "112", "emergency"),
        ("110", "DE", "110", "emergency"),
        # United States: 10 digits, 1 + 10 digits, 011 abroad, 911
        ("(201) 555-0123", "US", "+12015550123", "national"),
        ("1 201 555 0123", "US", "+12015550123", "national"),
        ("011 49 30 12345678", "US", "+493012345678", "international"),
        ("1-900-555-1234", "US", "+19005551234", "premium"),
        ("911", "US", "911", "emergency"),
        # United Kingdom and France
        ("020 7946 0958", "GB", "+442079460958", "national"),
        ("07400 123456", "GB", "+447400123456", "mobile"),
        ("999", "GB", "999", "emergency"),
        ("06 12 34 56 78", "FR", "+33612345678", "mobile"),
        ("+1 201 555 0123", "FR", "+12015550123", "international"),
        ("15", "FR", "15", "emergency"),
    ],
)
def test_numbers_are_classified_as_people_of_the_clients_country_dial_them(dialled, country, e164, kind):
    found = classify(dialled, country)
    assert found is not None, dialled
    assert (found.e164, found.kind, found.dialled) == (e164, kind, dialled)


@pytest.mark.parametrize(
    "dialled",
    ["", "101", "1001", "*72", "*884242", "#31#", "abc", "12a4", "+", "00", "0" * 60, "++4930", "\x00112", "+49 1"],
)
def test_extensions_feature_codes_and_garbage_are_not_phone_numbers(dialled):
    assert classify(dialled, "DE") is None


def test_an_unknown_country_falls_back_rather_than_failing():
    assert classify("(201) 555-0123", "ZZ").e164 == "+12015550123"
    assert classify("911", "").kind == "emergency"


def test_numbers_are_shown_in_the_clients_national_format_and_others_internationally():
    assert national("+493012345678", "DE") == "030 12345678"
    assert national("+442079460958", "DE") == "+44 20 7946 0958"
    assert national("+12015550123", "US") == "(201) 555-0123"
    assert national("+14165550123", "US") == "(416) 555-0123", "one numbering plan (NANP)"
    assert national("anonymous", "DE") == "anonymous"
    assert national("", "DE") == ""
    assert national("101", "DE") == "101", "not an E.164 number: as it is"


@pytest.mark.parametrize(
    ("fmt", "country", "e164", "written"),
    [
        ("plus", "DE", "+493012345678", "+493012345678"),
        ("digits", "DE", "+493012345678", "493012345678"),
        ("00", "DE", "+493012345678", "00493012345678"),
        ("national", "DE", "+493012345678", "03012345678"),
        ("national", "DE", "+442079460958", "00442079460958"),
        ("national", "US", "+12015550123", "2015550123"),
        ("national", "US", "+442079460958", "011442079460958"),
        ("national", "DE", "112", "112"),
        ("digits", "US", "911", "911"),
    ],
)
def test_numbers_go_to_carriers_in_their_format_and_come_back_as_e164(fmt, country, e164, written):
    assert to_carrier(e164, fmt, country) == written
    if e164.startswith("+"):
        assert from_carrier(written, fmt, country) == e164


def test_what_a_carrier_sends_is_read_whatever_it_looks_like():
    assert from_carrier("+493012345678", "national", "DE") == "+493012345678"
    assert from_carrier("0049 30 12345678", "digits", "DE") == "+493012345678"
    assert from_carrier("03012345678", "digits", "DE") == "+493012345678", "national after all"
    for garbage in ("anonymous", "", "abc", "sip:foo", "+", "0" * 80):
        assert from_carrier(garbage, "plus", "DE") is None
