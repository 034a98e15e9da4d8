"""Numbers as the carriers write them (a first cut; the full numbering module replaces it)."""

from __future__ import annotations

import phonenumbers


def to_carrier(e164: str, fmt: str, country: str) -> str:
    digits = e164.lstrip("+")
    if fmt == "digits":
        return digits
    if fmt == "00":
        return "00" + digits
    if fmt == "national":
        number = phonenumbers.parse(e164)
        if phonenumbers.region_code_for_number(number) == country:
            national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            return "".join(ch for ch in national if ch.isdigit())
        return "00" + digits
    return e164


def from_carrier(number: str, fmt: str, country: str) -> str | None:
    written = "+" + number if fmt == "digits" and number.isdigit() else number
    try:
        parsed = phonenumbers.parse(written, country)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
