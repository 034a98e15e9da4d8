"""Clients' outbound policies: what their users may dial and who they are shown as."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from pstn.models import OutboundPolicy
from pstn.services.common import _brand_scope, _changes, _clean, _no_nul, _require
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.models import Client, Role, User

POLICY_FIELDS = ("allow_national", "allow_mobile", "allow_international", "allow_premium", "blocked_prefixes",
                 "caller_id", "main_number", "international_calls_per_hour",
                 "international_minutes_per_hour")  # fmt: skip
CLIENT_POLICY_FIELDS = ("caller_id", "main_number")


def outbound_policy_of(client: Client) -> OutboundPolicy:
    """A client's outbound policy, created with the defaults when missing."""
    return OutboundPolicy.objects.get_or_create(client=client)[0]


def _prefixes(text: str) -> str:
    lines = [line.strip().replace(" ", "") for line in (text or "").replace("\r", "\n").split("\n") if line.strip()]
    bad = [line[:30] for line in lines if not re.fullmatch(r"\+?[0-9]{1,15}", line)]
    if bad:
        raise ValidationError({"blocked_prefixes": [f"{line} is not a prefix such as +4490." for line in bad[:20]]})
    if len(lines) > 500:
        raise ValidationError({"blocked_prefixes": gettext("At most 500 prefixes.")})
    return "\n".join("+" + line.lstrip("+") for line in dict.fromkeys(lines))


@transaction.atomic
def outbound_policy_update(*, actor: User, client: Client, **fields) -> OutboundPolicy:
    """The brand (or god) edits all of a client's policy; its own operators the caller ID and the main
    number, which must be one of the client's numbers."""
    _no_nul(fields)
    if actor.role == Role.CLIENT:
        if actor.client_id != client.pk:
            raise NotAllowed(gettext("Not your company."))
        refused = set(fields) - set(CLIENT_POLICY_FIELDS)
        if refused:
            raise ValidationError({name: gettext("Only the brand changes this.") for name in refused})
    else:
        _require(actor, Role.GOD, Role.BRAND)
        _brand_scope(actor, client.brand_id)
    policy = outbound_policy_of(client)
    for name in POLICY_FIELDS:
        if name in fields:
            setattr(policy, name, fields[name])
    errors: dict[str, list[str]] = {}  # every refused field at once
    if "blocked_prefixes" in fields:
        try:
            policy.blocked_prefixes = _prefixes(policy.blocked_prefixes)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if policy.main_number is not None and policy.main_number.client_id != client.pk:
        errors["main_number"] = [gettext("Choose one of the company's own numbers.")]
    try:
        _clean(policy, exclude=["client", *errors])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    policy.save()
    audit(actor, "outbound_policy.update", policy, client=client, changed=_changes(fields))
    return policy
