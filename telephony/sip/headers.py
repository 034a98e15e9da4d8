"""Header fields of a SIP message: an ordered multi-map with case-insensitive, compact-form-aware names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from telephony.sip._lex import is_token, split_list

# fmt: off
_KNOWN = (
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Accept-Resource-Priority", "Alert-Info",
    "Allow", "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Transfer-Encoding", "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires",
    "Flow-Timer", "From", "History-Info", "Identity", "Identity-Info", "In-Reply-To", "Join", "Max-Forwards",
    "MIME-Version", "Min-Expires", "Min-SE", "Organization", "P-Access-Network-Info", "P-Asserted-Identity",
    "P-Associated-URI", "P-Called-Party-ID", "P-Charging-Vector", "P-Early-Media", "P-Preferred-Identity",
    "Path", "Priority", "Privacy", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck",
    "Reason", "Record-Route", "Refer-Sub", "Refer-To", "Referred-By", "Reject-Contact", "Remote-Party-ID",
    "Replaces", "Reply-To", "Request-Disposition", "Require", "Resource-Priority", "Retry-After", "Route",
    "RSeq", "Security-Client", "Security-Server", "Security-Verify", "Server", "Service-Route",
    "Session-Expires", "SIP-ETag", "SIP-If-Match", "Subject", "Subscription-State", "Supported",
    "Target-Dialog", "Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
)
# fmt: on

# RFC 3261 section 7.3.3 and the extensions that defined their own single-letter names.
COMPACT = {
    "v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact", "l": "Content-Length",
    "c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding", "o": "Event",
    "r": "Refer-To", "b": "Referred-By", "x": "Session-Expires", "u": "Allow-Events", "a": "Accept-Contact",
    "j": "Reject-Contact", "d": "Request-Disposition", "y": "Identity", "n": "Identity-Info",
}  # fmt: skip

# Headers whose grammar is a comma-separated list, so that several lines and one joined line mean the same.
# Authentication headers and Date contain commas that are not separators and are deliberately absent.
# fmt: off
LIST_HEADERS = frozenset(name.lower() for name in (
    "Via", "Contact", "Route", "Record-Route", "Path", "Service-Route", "Allow", "Allow-Events", "Supported",
    "Require", "Proxy-Require", "Unsupported", "Accept", "Accept-Encoding", "Accept-Language",
    "Accept-Contact", "Reject-Contact", "Request-Disposition", "Content-Encoding", "Content-Language",
    "Warning", "Alert-Info", "Call-Info", "Error-Info", "In-Reply-To", "Reason", "P-Asserted-Identity",
    "P-Preferred-Identity", "P-Associated-URI", "History-Info", "Security-Client", "Security-Server",
    "Security-Verify", "Resource-Priority", "Accept-Resource-Priority",
))
# fmt: on

# lower-case spelling (or compact letter) -> (canonical name, lookup key)
CANONICAL: dict[str, tuple[str, str]] = {name.lower(): (name, name.lower()) for name in _KNOWN}
CANONICAL.update({letter: (name, name.lower()) for letter, name in COMPACT.items()})


_SEEN: dict[str, tuple[str, str]] = {}  # names as code spells them ("Via", "Call-ID"): a handful, looked up often


def canonical(name: str) -> tuple[str, str]:
    """(spelling to write, key to compare) for a header name given in any case or compact form."""
    seen = _SEEN.get(name)
    if seen is not None:
        return seen
    lowered = name.lower()
    known = CANONICAL.get(lowered) or (name, lowered)
    if len(_SEEN) < 512:
        _SEEN[name] = known
    return known


def _check(name: str, value: str) -> None:
    # Values come from code here, not from the wire: refuse what would let a caller inject header lines.
    if not is_token(name):
        raise ValueError(f"Not a header name: {name!r}")
    if "\r" in value or "\n" in value:
        raise ValueError(f"CR or LF in the value of {name}")


class Headers:
    """Ordered (name, value) pairs; names compare case-insensitively and compact forms count as long ones."""

    __slots__ = ("_first", "_items", "memo")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = []
        self._first: dict[str, str] | None = None  # key -> first line's value, built on the first get()
        self.memo: dict = {}  # values parsed by the message (model.py), forgotten when a header changes
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _trusted(cls, items: list[tuple[str, str, str]]) -> Headers:
        """The parser's fast path: items are already (key, canonical name, checked value)."""
        headers = cls.__new__(cls)
        headers._items = items
        headers._first = None
        headers.memo = {}
        return headers

    def _changed(self) -> None:
        self._first = None
        if self.memo:
            self.memo = {}

    def _index(self) -> dict[str, str]:
        """Each name's first line (a message is read far more often than changed: built once)."""
        first = self._first
        if first is None:
            first = {}
            for key, _, value in self._items:
                if key not in first:
                    first[key] = value
            self._first = first
        return first

    def get(self, name: str) -> str | None:
        """The first value; for list headers (Via, Route, Contact...) the first element of the first line."""
        key = canonical(name)[1]
        value = self._index().get(key)
        if value is not None and key in LIST_HEADERS:
            parts = split_list(value)
            return parts[0] if parts else value
        return value

    def get_all(self, name: str) -> list[str]:
        """Every value in order, with list headers split into their elements."""
        key = canonical(name)[1]
        values = [value for item_key, _, value in self._items if item_key == key]
        if key in LIST_HEADERS:
            return [part for value in values for part in split_list(value)]
        return values

    def get_lines(self, name: str) -> list[str]:
        """Every header line's value as received, never split."""
        key = canonical(name)[1]
        return [value for item_key, _, value in self._items if item_key == key]

    def count(self, name: str) -> int:
        """How many header lines carry this name."""
        key = canonical(name)[1]
        return sum(1 for item_key, _, _ in self._items if item_key == key)

    def add(self, name: str, value: str) -> None:
        _check(name, value)
        self._changed()
        spelling, key = canonical(name)
        self._items.append((key, spelling, value))

    def prepend(self, name: str, value: str) -> None:
        """Insert before the first line of this name (a proxy's Via or Record-Route), or at the top."""
        self._changed()
        _check(name, value)
        spelling, key = canonical(name)
        for index, item in enumerate(self._items):
            if item[0] == key:
                self._items.insert(index, (key, spelling, value))
                return
        self._items.insert(0, (key, spelling, value))

    def set(self, name: str, value: str) -> None:
        """Replace every line of this name by one, where the first one was (at the end if there was none)."""
        self._changed()
        _check(name, value)
        spelling, key = canonical(name)
        items = []
        placed = False
        for item in self._items:
            if item[0] != key:
                items.append(item)
            elif not placed:
                items.append((key, spelling, value))
                placed = True
        if not placed:
            items.append((key, spelling, value))
        self._items = items

    def remove(self, name: str) -> None:
        self._changed()
        key = canonical(name)[1]
        self._items = [item for item in self._items if item[0] != key]

    def replace_first(self, name: str, value: str) -> None:
        """Replace the first value (for list headers, the first element of the first line), in place."""
        self._changed()
        _check(name, value)
        key = canonical(name)[1]
        for index, (item_key, spelling, old) in enumerate(self._items):
            if item_key == key:
                parts = split_list(old) if key in LIST_HEADERS else []
                self._items[index] = (key, spelling, ", ".join([value, *parts[1:]]))
                return
        raise KeyError(name)

    def remove_prefix(self, prefix: str) -> None:
        """Remove every header whose name starts with prefix (case-insensitive): private headers from outside."""
        lowered = prefix.lower()
        if any(item[0].startswith(lowered) for item in self._items):
            self._changed()
            self._items = [item for item in self._items if not item[0].startswith(lowered)]

    def remove_first(self, name: str) -> str | None:
        """Remove and return the first value: for list headers one element, as a proxy pops its Route."""
        self._changed()
        key = canonical(name)[1]
        for index, (item_key, spelling, value) in enumerate(self._items):
            if item_key != key:
                continue
            if key in LIST_HEADERS:
                parts = split_list(value)
                if len(parts) > 1:
                    self._items[index] = (key, spelling, ", ".join(parts[1:]))
                    return parts[0]
                if parts:
                    value = parts[0]
            del self._items[index]
            return value
        return None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return canonical(name)[1] in self._index()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((spelling, value) for _, spelling, value in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [item[1:] for item in self._items] == [item[1:] for item in other._items]

    __hash__ = None  # type: ignore[assignment]  # mutable

    def copy(self) -> Headers:
        return Headers._trusted(list(self._items))

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"
