"""The phone-network paths attacked from a carrier's network and by a careless carrier, through the
real edge and engine (a raw UDP SIP client stands in for the carrier's gateway)."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from billing.models import Carrier
from pstn.models import Gateway, Number
from records.models import Cdr
from tests.telephony.sipclient import SipClient
from tests.telephony.test_pstn_inbound import CALLER, final, invite, known_as_carrier
from tests.waiting import committed, wait_for

DID = "+4930901830"  # client A1's number at the attacked carrier
OTHER = "+4930901831"  # client B1's (another brand's) number


@pytest.fixture
def numbers(world, edge, engine):
    """A carrier whose gateway is 127.0.0.1 with DID for client A1 and OTHER for client B1, both hanging up
    at once (480, a record each), so the test sees whose record a call leaves; removed afterwards."""

    def create():
        made = Carrier.objects.create(name=f"attacked-{uuid.uuid4().hex[:6]}", country="DE")
        Gateway.objects.create(carrier=made, name="gw", host="127.0.0.1", inbound_networks="127.0.0.1/32")
        Number.objects.create(brand=world.brand_a, e164=DID, carrier=made, client=world.client_a1,
                              destination_kind="hangup", destination_target="")  # fmt: skip
        Number.objects.create(brand=world.brand_b, e164=OTHER, carrier=made, client=world.client_b1,
                              destination_kind="hangup", destination_target="")  # fmt: skip
        return made

    made = committed(create)
    yield made

    def remove():
        Number.objects.filter(carrier=made).delete()
        made.delete()

    committed(remove)


def records_since(started: float, **match) -> list[tuple]:
    since = Cdr.objects.filter(started_at__gte=dt.datetime.fromtimestamp(started, dt.UTC), **match)
    return list(since.values_list("client_id", "direction", "callee_number", "account_id"))


def test_a_carriers_from_user_cannot_rewrite_the_edges_identity_header(world, edge, numbers):
    """FAILS: the edge writes the carrier's From user, %-decoded, into X-Ocx-Auth as `from=...` and the
    engine reads that header into a dict where a later key wins: `;client=<B1>;did=<OTHER>` in the From
    user sends the call into another client's (another brand's) number, counted against A1's limit."""
    agent = SipClient(edge.address, CALLER, "carrier.example")
    try:
        known_as_carrier(agent)
        started = time.time()
        agent.user = f"{CALLER}%3Bclient%3D{world.client_b1.pk}%3Bbrand%3D{world.brand_b.pk}%3Bdid%3D%2B{OTHER[1:]}"
        invite(agent, DID)
        assert final(agent, timeout=10) >= 400
        wait_for(lambda: records_since(started, ended_at__isnull=False), "the call's record", 10)
        assert not records_since(started, client_id=world.client_b1.pk), "the call reached client B1's number"
    finally:
        agent.close()


def test_a_carriers_from_user_cannot_make_its_call_a_users_outbound_call(world, edge, numbers):
    """FAILS: same injection, `;carrier=x;ext=101;client=<B1>`: with no carrier id left the engine takes
    the carrier's call for a call of extension 101 of client B1 (another brand) dialling the DID: a user's
    call, with that user's dial plan and outbound rights, on B1's bill (seen: an internal record of B1)."""
    agent = SipClient(edge.address, CALLER, "carrier.example")
    try:
        known_as_carrier(agent)
        started = time.time()
        agent.user = f"{CALLER}%3Bcarrier%3Dx%3Bext%3D101%3Bclient%3D{world.client_b1.pk}"
        invite(agent, DID)
        assert final(agent, timeout=10) >= 400
        wait_for(lambda: records_since(started, ended_at__isnull=False), "the call's record", 10)
        assert not records_since(started, client_id=world.client_b1.pk), "the call was client B1's"
        assert not records_since(started, direction=Cdr.Direction.OUTBOUND), "a carrier's call went out as a user's"
    finally:
        agent.close()
