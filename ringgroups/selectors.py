"""Reads on ring groups: what the engine needs of a client's groups during a call (plain snapshots read
with the client's dial plan)."""

from __future__ import annotations

from dataclasses import dataclass

from ringgroups.models import RingGroup
from tenants.models import Client


@dataclass(frozen=True)
class GroupView:
    id: int
    name: str
    strategy: str  # simultaneous, in_order, rotating
    ring_time: int
    members: tuple[tuple[int, str, str], ...]  # (member id, kind, target), in order
    on_no_answer: tuple[str, str]  # ("", ""): nobody available


def groups_for_plan(client: Client) -> dict[int, GroupView]:
    """The client's ring groups by id; runs in the client's schema (a dial plan section)."""
    return {
        group.pk: GroupView(
            group.pk,
            group.name,
            group.strategy,
            group.ring_time,
            tuple((m.pk, m.kind, m.target) for m in group.members.all()),
            (group.no_answer_kind, group.no_answer_target),
        )
        for group in RingGroup.objects.prefetch_related("members")
    }
