"""A client's blocking lists (telephony.models.Block): callers from the phone network it refuses, and
numbers its own users may not call.

Entries are written the way the client's people write numbers and stored as E.164:

- a number: parsed with phonenumbers in the client's country (030 1234567 in Germany, (201) 555-0123
  in the US, or with + / the international prefix); a number that cannot exist there is refused;
- a prefix: the first digits of numbers, with + (+4490), the country's international prefix (00 44 90)
  or its trunk prefix (0900 in Germany); digits without either are the client's own country's
  (900 in the US is +1900). A prefix starts with a whole country code, so a typo such as +8 is an
  error rather than a block of half the world;
- anonymous (blocked callers only): every call from the network without a caller number.

`Blocklists` is what the engine keeps with the client's dial plan: matching a number costs one set
lookup per digit, whatever the lists' length. Emergency numbers are never blocked: they are not
accepted as entries, and the engine never checks them (telephony/engine/applications/blocking.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from phonenumbers import NumberParseException, PhoneNumberFormat

from pstn.numbering import international_prefix

MAX_ENTRIES = 2000  # per list: plenty for a company, and the engine keeps every list in memory
MAX_TEXT = 40  # characters of a number or prefix as written (with spaces, dashes...)
SEPARATORS = re.compile(r"[\s().\-/]")
DIGITS = re.compile(r"^\+?[0-9]{1,20}$")

INBOUND, OUTBOUND = "inbound", "outbound"
NUMBER, PREFIX, ANONYMOUS = "number", "prefix", "anonymous"
DECLINE, FORBIDDEN, MESSAGE = "decline", "forbidden", "message"


def _country(country: str) -> str:
    country = (country or "").upper()
    return country if phonenumbers.country_code_for_region(country) else "US"


def _compact(text: str, field: str) -> str:
    compact = SEPARATORS.sub("", text or "")
    if not compact:
        raise ValidationError({field: _("Enter a number or a prefix.")})
    if len(text) > MAX_TEXT or not DIGITS.match(compact):
        raise ValidationError(
            {field: _("%(text)s is not a number: use digits, with + or not.") % {"text": text[:MAX_TEXT]}}
        )
    return compact


def number_e164(text: str, country: str, *, field: str = "value") -> str:
    """A whole number as the client's people write it, as E.164; ValidationError naming `field`."""
    country = _country(country)
    compact = _compact(text, field)
    if compact[0] != "+" and phonenumbers.is_emergency_number(compact, country):
        raise ValidationError(
            {field: _("%(number)s is an emergency number: emergency numbers are never blocked.") % {"number": compact}}
        )
    try:
        number = phonenumbers.parse(compact, country)
    except NumberParseException:
        number = None
    # Possible rather than valid: a caller's number is read the same way from the carrier
    # (pstn.numbering.from_carrier), and a nuisance caller's number need not be one the plan lists.
    if number is None or not phonenumbers.is_possible_number(number):
        problem = _("%(text)s is not a phone number in %(country)s: write it as your people dial it, or with + "
                    "and the country code.") % {"text": text.strip(), "country": country}  # fmt: skip
        raise ValidationError({field: problem})
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _has_country_code(digits: str) -> bool:
    return any(
        phonenumbers.region_code_for_country_code(int(digits[:size])) != phonenumbers.UNKNOWN_REGION
        for size in (1, 2, 3)
        if len(digits) >= size
    )


def prefix_e164(text: str, country: str, *, field: str = "value") -> str:
    """The first digits of numbers as the client's people write them, as + and digits."""
    country = _country(country)
    compact = _compact(text, field)
    if compact[0] == "+":
        digits = compact[1:]
    else:
        meta = phonenumbers.PhoneMetadata.metadata_for_region(country)
        exit_code = international_prefix(country)
        trunk = (meta.national_prefix if meta is not None else "") or ""
        if compact.startswith(exit_code):
            digits = compact[len(exit_code) :]
        else:
            national = compact[len(trunk) :] if trunk and compact.startswith(trunk) else compact
            digits = str(phonenumbers.country_code_for_region(country)) + national
    if not digits or len(digits) > 15 or not _has_country_code(digits):
        problem = _("%(text)s is not a prefix: start with a country code, such as +4490 or (in your country) "
                    "0900.") % {"text": text.strip()}  # fmt: skip
        raise ValidationError({field: problem})
    return "+" + digits


def clean_entry(direction: str, kind: str, value: str, country: str) -> tuple[str, str]:
    """(kind, value) of an entry as stored, or ValidationError naming the field at fault."""
    if direction not in (INBOUND, OUTBOUND):
        raise ValidationError({"direction": _("Choose inbound (blocked callers) or outbound (blocked destinations).")})
    if kind == ANONYMOUS:
        if direction != INBOUND:
            raise ValidationError({"kind": _("Only callers can be anonymous: choose number or prefix.")})
        if (value or "").strip():
            raise ValidationError({"value": _("Leave it empty: anonymous callers have no number.")})
        return ANONYMOUS, ""
    if kind == NUMBER:
        return NUMBER, number_e164(value, country)
    if kind == PREFIX:
        return PREFIX, prefix_e164(value, country)
    if direction == INBOUND:
        raise ValidationError({"kind": _("Choose number, prefix or anonymous.")})
    raise ValidationError({"kind": _("Choose number or prefix.")})


@dataclass(frozen=True, slots=True)
class Blocklists:
    """A client's lists as the engine keeps them with its dial plan."""

    action: str = DECLINE
    callers: frozenset[str] = frozenset()
    caller_prefixes: frozenset[str] = frozenset()
    anonymous: bool = False
    destinations: frozenset[str] = frozenset()
    destination_prefixes: frozenset[str] = frozenset()

    def caller_block(self, e164: str | None) -> str | None:
        """The entry that blocks a caller ("anonymous", a number or a prefix), or None."""
        if not e164:
            return ANONYMOUS if self.anonymous else None
        return _match(e164, self.callers, self.caller_prefixes)

    def destination_block(self, e164: str) -> str | None:
        """The entry that blocks calls to `e164` (a number or a prefix), or None."""
        return _match(e164, self.destinations, self.destination_prefixes)


def _match(e164: str, numbers: frozenset[str], prefixes: frozenset[str]) -> str | None:
    if e164 in numbers:
        return e164
    if prefixes:
        for end in range(2, len(e164) + 1):
            if e164[:end] in prefixes:
                return e164[:end]
    return None


def blocklists_load() -> Blocklists:
    """The lists of the client whose schema is set (database work: the engine runs it in a thread)."""
    from telephony.models import Block, CallerBlocking

    found: dict[tuple[str, str], set[str]] = {}
    for direction, kind, value in Block.objects.values_list("direction", "kind", "value"):
        found.setdefault((direction, kind), set()).add(value)
    action = CallerBlocking.objects.filter(pk=1).values_list("action", flat=True).first() or DECLINE
    return Blocklists(
        action=action,
        callers=frozenset(found.get((INBOUND, NUMBER), ())),
        caller_prefixes=frozenset(found.get((INBOUND, PREFIX), ())),
        anonymous=bool(found.get((INBOUND, ANONYMOUS))),
        destinations=frozenset(found.get((OUTBOUND, NUMBER), ())),
        destination_prefixes=frozenset(found.get((OUTBOUND, PREFIX), ())),
    )
