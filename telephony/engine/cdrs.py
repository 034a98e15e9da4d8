"""Writing call detail records (billing.Cdr). Database work: callers run these in a thread."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from billing.models import Cdr


def cdr_open(*, call_uuid, engine: str, route, started_at: dt.datetime, direction: str = Cdr.Direction.INTERNAL,
             dialled: str = "") -> None:  # fmt: skip
    callee = route.callee
    Cdr.objects.create(
        call_uuid=call_uuid, engine=engine, brand_id=route.brand, client_id=route.client,
        account_id=route.caller.account, callee_account_id=callee.account if callee else None,
        direction=direction, caller_number=route.caller.number,
        caller_name=route.caller.name, callee_number=callee.number if callee else dialled,
        callee_name=callee.name if callee else "", started_at=started_at,
    )  # fmt: skip


def cdr_answered(call_uuid, at: dt.datetime) -> None:
    Cdr.objects.filter(call_uuid=call_uuid).update(answered_at=at)


def cdr_close(call_uuid, *, ended_at: dt.datetime, disposition: str, cause: str, side: str, quality: dict,
              legs: list) -> None:  # fmt: skip
    cdr = Cdr.objects.get(call_uuid=call_uuid)
    cdr.ended_at = ended_at
    cdr.duration = max(0, round((ended_at - cdr.started_at).total_seconds()))
    cdr.billsec = max(0, round((ended_at - cdr.answered_at).total_seconds())) if cdr.answered_at else 0
    cdr.disposition, cdr.hangup_cause, cdr.hangup_side = disposition, cause[:40], side
    cdr.quality, cdr.legs = quality, legs
    cdr.save(update_fields=["ended_at", "duration", "billsec", "disposition", "hangup_cause", "hangup_side",
                            "quality", "legs"])  # fmt: skip


def cdr_close_lost(live: set[str], *, at: dt.datetime) -> int:
    """Close the open records of engines that are not live (died, killed): their calls went with them.
    Any surviving engine may run this; rows another survivor is closing are skipped."""
    closed = 0
    with transaction.atomic():
        lost = Cdr.objects.select_for_update(skip_locked=True).filter(ended_at__isnull=True).exclude(engine__in=live)
        for cdr in lost:
            disposition = Cdr.Disposition.ANSWERED if cdr.answered_at else Cdr.Disposition.FAILED
            cdr_close(cdr.call_uuid, ended_at=at, disposition=disposition, cause="engine-lost", side="engine",
                      quality=cdr.quality, legs=cdr.legs)  # fmt: skip
            closed += 1
    return closed
