"""Every change to a carrier, a gateway or a number reaches the edges' copy (pstn/directory.py): its
own part only, after the commit; a change to a route, its carriers or a policy makes the engines read
their routing and dial plans again (the same "pstn" announcement, without a write). Deck rows written
in bulk (COPY) send no signal: the engines read a brand's routing again at least every 30 s
(network.py ROUTER_TTL)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save, pre_save

from billing.models import Carrier
from pstn.directory import pstn_announce, pstn_carrier_changed, pstn_gateway_changed, pstn_number_changed
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute, RouteCarrier, RoutingPolicy


def _carrier_changed(sender, instance, **kwargs) -> None:
    pstn_carrier_changed(instance.pk)


def _gateway_changed(sender, instance, **kwargs) -> None:
    pstn_gateway_changed(instance.pk)


def _number_saving(sender, instance, **kwargs) -> None:
    """Where the number was before this save (its carrier and E.164), to take it out of there."""
    before = None
    if instance.pk is not None:
        before = Number.objects.filter(pk=instance.pk).values_list("carrier_id", "e164").first()
    instance._pstn_before = before


def _number_saved(sender, instance, **kwargs) -> None:
    pstn_number_changed(instance.pk, getattr(instance, "_pstn_before", None))


def _number_deleted(sender, instance, **kwargs) -> None:
    pstn_number_changed(None, (instance.carrier_id, instance.e164))


def _routing_changed(sender, **kwargs) -> None:
    pstn_announce()


post_save.connect(_carrier_changed, sender=Carrier, dispatch_uid="pstn-directory-Carrier-save")
post_delete.connect(_carrier_changed, sender=Carrier, dispatch_uid="pstn-directory-Carrier-delete")
post_save.connect(_gateway_changed, sender=Gateway, dispatch_uid="pstn-directory-Gateway-save")
post_delete.connect(_gateway_changed, sender=Gateway, dispatch_uid="pstn-directory-Gateway-delete")
pre_save.connect(_number_saving, sender=Number, dispatch_uid="pstn-directory-Number-pre-save")
post_save.connect(_number_saved, sender=Number, dispatch_uid="pstn-directory-Number-save")
post_delete.connect(_number_deleted, sender=Number, dispatch_uid="pstn-directory-Number-delete")
for model in (OutboundRoute, RouteCarrier, RoutingPolicy, OutboundPolicy):
    post_save.connect(_routing_changed, sender=model, dispatch_uid=f"pstn-routing-{model.__name__}-save")
    post_delete.connect(_routing_changed, sender=model, dispatch_uid=f"pstn-routing-{model.__name__}-delete")
