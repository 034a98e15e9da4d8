"""The test phone (tests/sip/phone.py) proven against a reference registrar: Debian's Kamailio.

These tests prove test infrastructure, not a product feature: that the pjsua2 phone registers,
fails with a wrong secret, re-registers and unregisters against a registrar known to be right,
so that when the same phone meets our own edge, a failure points at the edge. `make test`
installs Kamailio from Debian. Kamailio runs in the foreground as a child of the test
session, on a free port of 127.0.0.1, with bench/kamailio/kamailio.cfg (the registrar the SIP
benchmark compares our edge with).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.sip import phone as phone_helpers
from tests.sip.phone import Phone, free_port

# The fixture factory, registered for this module (a conftest can do the same for a whole folder).
phones = phone_helpers.phones

_REGISTRAR_PY = Path(__file__).resolve().parents[2] / "bench" / "kamailio" / "registrar.py"
_spec = importlib.util.spec_from_file_location("ocx_bench_kamailio_registrar", _REGISTRAR_PY)
registrar = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(registrar)

if registrar.kamailio_binary() is None:  # `make test` installs it (platform/test.py); say so plainly
    raise RuntimeError("kamailio (Debian) is missing: run the tests with `make test`, which installs it")

DOMAIN = "acme.example"
USERS = {"101": "secret-101-Xy", "102": "secret-102-Zw"}


@dataclass
class Registrar:
    port: int
    workdir: Path

    @property
    def proxy(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return registrar.log_tail(self.workdir)


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registrar]:
    workdir = tmp_path_factory.mktemp("kamailio")
    port = free_port(tcp_too=True)
    users = [(name, DOMAIN, secret) for name, secret in USERS.items()]
    proc = registrar.start(workdir, port, users, children=1, tcp=True, shm_mb=64)
    try:
        yield Registrar(port=port, workdir=workdir)
    finally:
        registrar.stop(proc)


def test_register_with_the_right_secret(kamailio: Registrar, phones) -> None:
    phone = phones()
    event = phone.register(username="101", domain=DOMAIN, secret=USERS["101"], proxy=kamailio.proxy, expires=300)
    assert event["code"] == 200, kamailio.log_tail()
    assert event["active"] is True
    assert event["expires"] == 300


def test_register_with_a_wrong_secret_fails(kamailio: Registrar, phones) -> None:
    phone = phones()
    event = phone.register(username="101", domain=DOMAIN, secret="not-the-secret", proxy=kamailio.proxy)
    assert event["code"] in (401, 403), event
    assert event["active"] is False


def test_reregister(kamailio: Registrar, phones) -> None:
    phone = phones()
    first = phone.register(username="102", domain=DOMAIN, secret=USERS["102"], proxy=kamailio.proxy)
    assert first["code"] == 200
    again = phone.reregister("102")
    assert again["code"] == 200
    assert again["active"] is True


def test_unregister(kamailio: Registrar, phones) -> None:
    phone = phones()
    assert phone.register(username="101", domain=DOMAIN, secret=USERS["101"], proxy=kamailio.proxy)["active"]
    event = phone.unregister("101")
    assert event["code"] == 200
    assert event["active"] is False


def test_register_over_tcp(kamailio: Registrar, phones) -> None:
    phone = phones(transport="tcp")
    event = phone.register(username="102", domain=DOMAIN, secret=USERS["102"], proxy=kamailio.proxy)
    assert event["code"] == 200 and event["active"], kamailio.log_tail()


def test_fixed_secret_registers_on_the_next_attempt(kamailio: Registrar, phones) -> None:
    phone = phones()
    assert phone.register(username="101", domain=DOMAIN, secret="stale", proxy=kamailio.proxy)["active"] is False
    phone.set_secret("101", USERS["101"])
    assert phone.reregister("101")["code"] == 200


def test_two_phones_each_with_its_own_identity(kamailio: Registrar, phones) -> None:
    alice, bob = phones(name="alice"), phones(name="bob")
    assert alice.sip_port != bob.sip_port
    assert alice.register(username="101", domain=DOMAIN, secret=USERS["101"], proxy=kamailio.proxy)["active"]
    assert bob.register(username="102", domain=DOMAIN, secret=USERS["102"], proxy=kamailio.proxy)["active"]


def test_agent_errors_are_events_not_crashes(phones) -> None:
    phone: Phone = phones()
    phone.send("reregister", id="nobody")
    error = phone.wait_for("error")
    assert "nobody" in error["message"]
    phone.send("frobnicate")
    assert "unknown command" in phone.wait_for("error")["message"]
    assert phone.proc.poll() is None  # still alive and listening


def test_a_timeout_says_what_the_agent_saw(phones) -> None:
    phone: Phone = phones()
    with pytest.raises(AssertionError) as failure:
        phone.wait_for("reg", timeout=0.2)
    text = str(failure.value)
    assert "no reg event within 0.2 s" in text
    assert '"event": "ready"' in text  # the events seen so far
    assert "PJSIP log" in text
