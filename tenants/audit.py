"""Audit rows for the writes an operator would want to trace."""

from __future__ import annotations

from tenants.models import AuditEvent


def audit(actor, action: str, target: object = "", *, brand=None, client=None, **data) -> None:
    AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        target=str(target)[:200],
        brand=brand or getattr(client, "brand", None),
        client=client,
        data=data,
    )
