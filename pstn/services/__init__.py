"""Writes of the phone-network side: carriers' gateways, brands' numbers (one, a range or a list at
once) and where each goes, outbound routes and their carriers, the brands' routing policies and the
clients' outbound policies. Each takes the acting account first, checks its right and scope, writes
atomically and leaves an audit row; bad input is a ValidationError that names the field.
"""

from pstn.services.common import carriers_usable
from pstn.services.gateways import GATEWAY_FIELDS, gateway_create, gateway_delete, gateway_update, parse_networks
from pstn.services.numbers import (
    MAX_BULK,
    NUMBER_ROUTE_FIELDS,
    national,
    normalise_e164,
    number_bulk_add,
    number_create,
    number_delete,
    number_update,
    parse_bulk,
)
from pstn.services.policies import CLIENT_POLICY_FIELDS, POLICY_FIELDS, outbound_policy_of, outbound_policy_update
from pstn.services.routes import (
    ROUTE_FIELDS,
    ROUTING_POLICY_FIELDS,
    Member,
    outbound_route_create,
    outbound_route_delete,
    outbound_route_update,
    routing_policy_of,
    routing_policy_update,
)

__all__ = [
    "CLIENT_POLICY_FIELDS", "GATEWAY_FIELDS", "MAX_BULK", "NUMBER_ROUTE_FIELDS", "POLICY_FIELDS", "ROUTE_FIELDS",
    "ROUTING_POLICY_FIELDS", "Member", "carriers_usable", "gateway_create", "gateway_delete", "gateway_update",
    "national", "normalise_e164", "number_bulk_add", "number_create", "number_delete", "number_update",
    "outbound_policy_of", "outbound_policy_update", "outbound_route_create", "outbound_route_delete",
    "outbound_route_update", "parse_bulk", "parse_networks", "routing_policy_of", "routing_policy_update",
]  # fmt: skip
