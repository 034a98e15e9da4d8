"""Numbers as people dial them and as carriers write them, with phonenumbers (the Python port of
libphonenumber) rather than hand-written rules.

A client's users dial the way people in the client's country do: the national form (030 1234567,
(201) 555-0123), the country's international prefix (00, 011...) or +. `classify()` turns that into
E.164 and a kind the outbound policy judges (pstn/policy.py), or None when the string is no phone
number at all (an extension, a feature code, letters, a short service code): the engine then treats
it as something of its own. Emergency numbers of the client's country are recognised before
anything else and keep their short form (112, 911): carriers take them as dialled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

EMERGENCY, NATIONAL, MOBILE, INTERNATIONAL = "emergency", "national", "mobile", "international"
PREMIUM, TOLLFREE, OTHER = "premium", "tollfree", "other"
KINDS = (EMERGENCY, NATIONAL, MOBILE, INTERNATIONAL, PREMIUM, TOLLFREE, OTHER)

# Separators people type or phones send inside a number; anything else (letters, * and #) means
# the string is not a phone number.
SEPARATORS = re.compile(r"[\s().\-/]")
DIALLABLE = re.compile(r"^\+?[0-9]{1,20}$")
MAX_LENGTH = 40
ANONYMOUS = {"", "anonymous", "unknown", "unavailable", "restricted", "private"}

_TYPE_KIND = {
    PhoneNumberType.FIXED_LINE: NATIONAL,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NATIONAL,
    PhoneNumberType.MOBILE: MOBILE,
    PhoneNumberType.PAGER: MOBILE,
    PhoneNumberType.TOLL_FREE: TOLLFREE,
    PhoneNumberType.PREMIUM_RATE: PREMIUM,
}


@dataclass(frozen=True, slots=True)
class Dialled:
    """A dialled string understood: `e164` (+ and digits; the short form for an emergency number),
    its `kind` (one of KINDS) and what was dialled."""

    e164: str
    kind: str
    dialled: str

    @property
    def emergency(self) -> bool:
        return self.kind == EMERGENCY


def _clean(text: str) -> str | None:
    """The dialled string without separators, or None when it cannot be a number."""
    if not text or len(text) > MAX_LENGTH:
        return None
    compact = SEPARATORS.sub("", text.strip())
    return compact if DIALLABLE.match(compact) else None


def _country(country: str) -> str:
    country = (country or "").upper()
    return country if phonenumbers.country_code_for_region(country) else "US"


def classify(dialled: str, country: str) -> Dialled | None:
    """What a user of a client in `country` (ISO 3166, such as DE) dialled, or None when it is not a
    phone number: numbers that are not valid for their country are not phone numbers either, so a
    typo is refused by the engine rather than sent to a carrier."""
    compact = _clean(dialled)
    if compact is None:
        return None
    country = _country(country)
    if compact[0] != "+" and phonenumbers.is_emergency_number(compact, country):
        return Dialled(compact, EMERGENCY, dialled)
    try:
        number = phonenumbers.parse(compact, country)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    kind = _TYPE_KIND.get(phonenumbers.number_type(number), OTHER)
    if kind == PREMIUM:
        return Dialled(e164, PREMIUM, dialled)  # premium rate abroad is premium too (toll fraud's favourite)
    if number.country_code != phonenumbers.country_code_for_region(country):
        return Dialled(e164, INTERNATIONAL, dialled)
    return Dialled(e164, kind, dialled)


def _parse_e164(e164: str):
    if not e164 or e164[0] != "+":
        return None
    try:
        return phonenumbers.parse(e164, None)
    except NumberParseException:
        return None


def national(e164: str, country: str) -> str:
    """How a client's users see a number: their own country's numbers in its national format
    (030 12345678), others in the international format (+44 20 7946 0958). Anonymous or empty
    callers come back as they are; a string that is no E.164 number too."""
    if (e164 or "").strip().lower() in ANONYMOUS:
        return e164 or ""
    number = _parse_e164(e164)
    if number is None:
        return e164
    own = number.country_code == phonenumbers.country_code_for_region(_country(country))
    return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL if own else PhoneNumberFormat.INTERNATIONAL)


def international_prefix(country: str) -> str:
    """The prefix people in `country` dial before a country code (00, 011...)."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(_country(country))
    if meta is None:
        return "00"
    if meta.preferred_international_prefix:
        return meta.preferred_international_prefix
    return meta.international_prefix if meta.international_prefix and meta.international_prefix.isdigit() else "00"


def to_carrier(e164: str, fmt: str, country: str) -> str:
    """A number as a carrier (billing.Carrier.NumberFormat, carrier's `country`) wants it written:
    plus (+493012345678), digits (493012345678), 00 (00493012345678) or national (03012345678 for
    the carrier's own country, its international prefix and the digits for others). A short number
    (an emergency number) is sent as dialled, whatever the format."""
    if not e164.startswith("+"):
        return e164
    digits = e164[1:]
    if fmt == "digits":
        return digits
    if fmt == "00":
        return "00" + digits
    if fmt == "national":
        number = _parse_e164(e164)
        country = _country(country)
        if number is not None and number.country_code == phonenumbers.country_code_for_region(country):
            return re.sub(r"[^0-9]", "", phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
        return international_prefix(country) + digits
    return e164


def from_carrier(number: str, fmt: str, country: str) -> str | None:
    """A number a carrier sent (a caller, a called DID) as E.164, or None when it is anonymous or no
    number. A leading + or 00 always means E.164; otherwise the carrier's format says how to read it."""
    if (number or "").strip().lower() in ANONYMOUS:
        return None
    compact = _clean(number)
    if compact is None:
        return None
    country = _country(country)
    if compact.startswith("+"):
        candidates = [compact]
    elif compact.startswith("00"):
        candidates = ["+" + compact[2:]]
    elif fmt == "digits" or fmt == "plus":
        candidates = ["+" + compact, compact]  # E.164 without the plus; else a national number after all
    else:
        candidates = [compact]
    for text in candidates:
        try:
            parsed = phonenumbers.parse(text, country)
        except NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    return None
