"""Every change to a carrier, a gateway or a number reaches the edges' copy (pstn/directory.py); a
change to a route, its carriers or a policy makes the engines read their routing and dial plans
again (the same "pstn" announcement, without the rewrite). Deck rows written in bulk (COPY) send no
signal: the engines read a brand's routing again at least every 30 s (network.py ROUTER_TTL)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from billing.models import Carrier
from pstn.directory import pstn_announce, pstn_directory_changed
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute, RouteCarrier, RoutingPolicy


def _changed(sender, **kwargs) -> None:
    pstn_directory_changed()


def _routing_changed(sender, **kwargs) -> None:
    pstn_announce()


for model in (Carrier, Gateway, Number):
    post_save.connect(_changed, sender=model, dispatch_uid=f"pstn-directory-{model.__name__}-save")
    post_delete.connect(_changed, sender=model, dispatch_uid=f"pstn-directory-{model.__name__}-delete")
for model in (OutboundRoute, RouteCarrier, RoutingPolicy, OutboundPolicy):
    post_save.connect(_routing_changed, sender=model, dispatch_uid=f"pstn-routing-{model.__name__}-save")
    post_delete.connect(_routing_changed, sender=model, dispatch_uid=f"pstn-routing-{model.__name__}-delete")
