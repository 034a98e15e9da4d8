"""A SUBSCRIBE's terms as the engine's event packages read them (telephony/sip/subscription.py): the
prologue message waiting and busy lamps share."""

from __future__ import annotations

import pytest

from telephony.sip import parse
from telephony.sip.subscription import SubscriptionRefused, subscription_terms

TERMS = {"event": "dialog", "default_expires": 3600, "min_expires": 60, "max_expires": 3600}


def subscribe(*headers: str, to_tag: str = "") -> object:
    lines = [
        "SUBSCRIBE sip:102@example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport",
        "From: <sip:103@example.com>;tag=w1",
        "To: <sip:102@example.com>" + (f";tag={to_tag}" if to_tag else ""),
        "Call-ID: s1@192.0.2.10",
        "CSeq: 1 SUBSCRIBE",
        "Max-Forwards: 70",
        *headers,
        "Content-Length: 0",
    ]
    return parse(("\r\n".join(lines) + "\r\n\r\n").encode())


def refused(request, **terms) -> SubscriptionRefused:
    with pytest.raises(SubscriptionRefused) as caught:
        subscription_terms(request, **{**TERMS, **terms})
    return caught.value


def test_a_new_subscription_gets_the_time_asked_within_the_bounds():
    assert subscription_terms(subscribe("Event: dialog", "Expires: 600"), **TERMS).expires == 600
    assert subscription_terms(subscribe("Event: Dialog;id=7"), **TERMS).expires == 3600  # default; case, params
    longest = subscription_terms(subscribe("o: dialog", "Expires: 86400"), **TERMS)  # (Event's compact form)
    assert (longest.expires, longest.refresh) == (3600, False)


def test_a_subscribe_in_its_dialog_is_a_refresh_and_expires_0_an_unsubscribe():
    terms = subscription_terms(subscribe("Event: dialog", "Expires: 0", to_tag="e1"), **TERMS)
    assert (terms.expires, terms.refresh) == (0, True)


def test_another_package_a_bad_or_too_brief_expires_and_a_format_not_accepted_are_refused():
    other = refused(subscribe("Event: presence"))
    assert (other.status, other.headers) == (489, [("Allow-Events", "dialog")])
    assert refused(subscribe("Event: message-summary"), event="dialog").status == 489
    assert refused(subscribe("Expires: 60")).status == 489  # no Event at all
    assert refused(subscribe("Event: dialog", "Expires: soon")).status == 400
    brief = refused(subscribe("Event: dialog", "Expires: 59"))
    assert (brief.status, brief.reason, brief.headers) == (423, "Interval Too Brief", [("Min-Expires", "60")])
    wanted = "application/dialog-info+xml"
    accept = refused(subscribe("Event: dialog", "Accept: application/pidf+xml"), content_type=wanted)
    assert (accept.status, accept.headers) == (406, [("Accept", wanted)])
    for fits in ("Accept: application/pidf+xml, Application/Dialog-Info+XML", "Accept: */*", ""):
        request = subscribe("Event: dialog", *([fits] if fits else []))
        assert subscription_terms(request, **TERMS, content_type=wanted).expires == 3600
    # Without a content type to check (message waiting), any Accept passes, as before.
    assert subscription_terms(subscribe("Event: dialog", "Accept: text/plain"), **TERMS).expires == 3600
