"""Reads on queues: what the engine needs of a client's queues during a call (plain snapshots read
with the client's dial plan, so callers queue while PostgreSQL is away)."""

from __future__ import annotations

from dataclasses import dataclass

from queues.models import Queue


@dataclass(frozen=True)
class QueueView:
    id: int
    name: str
    number: str
    strategy: str
    ring_seconds: int
    wrapup_seconds: int
    max_wait_seconds: int
    on_max_wait: tuple[str, str]  # ("", ""): goodbye
    max_callers: int
    on_full: tuple[str, str]
    announce_every: int
    pause_after_missed: int
    sticky_minutes: int
    service_level_seconds: int = 20
    missed_call_emails: str = ""
    callback_key: str = ""
    callback_retries: int = 0
    callback_retry_seconds: int = 0
    rating: bool = False
    supervision_tone: bool = False


def queues_for_plan(client) -> dict[int, QueueView]:
    """The client's queues by id; runs in the client's schema (a dial plan section)."""
    return {
        q.pk: QueueView(
            q.pk,
            q.name,
            q.number,
            q.strategy,
            q.ring_seconds,
            q.wrapup_seconds,
            q.max_wait_seconds,
            (q.max_wait_kind, q.max_wait_target),
            q.max_callers,
            (q.full_kind, q.full_target),
            q.announce_every,
            q.pause_after_missed,
            q.sticky_minutes,
            q.service_level_seconds,
            q.missed_call_emails,
            q.callback_key,
            q.callback_retries,
            q.callback_retry_seconds,
            q.rating,
            q.supervision_tone,
        )
        for q in Queue.objects.all()
    }
