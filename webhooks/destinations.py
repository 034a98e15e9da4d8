"""Webhooks' destination kind: a routing webhook, by its id (telephony/destinations.py); the engine
runs it in telephony/engine/applications/webhooks.py."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telephony.destinations import kind


@kind("webhook", gettext_lazy("A routing webhook (the company's server chooses)"))
def _webhook(client, target: str) -> str:
    from webhooks.models import RoutingWebhook

    if not target.isdigit() or not RoutingWebhook.objects.filter(pk=int(target)).exists():
        raise ValidationError(_("No routing webhook has the id %(id)s.") % {"id": target or _("(empty)")})
    return str(int(target))
