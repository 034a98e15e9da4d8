"""Reads of call recording: which recordings of a page of calls an actor may hear, and the recording
each line of a client gets (its effective mode): a few queries for a whole page, none per row."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django_tenants.utils import tenant_context

from recordings.models import LineChoice, LineRecording, Mode, Recording, RecordingPolicy
from tenants.models import Client, Role, User


def recordings_of_calls(*, actor: User, client: Client | None,
                        call_uuids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Recording]]:  # fmt: skip
    """Call -> the recordings of it the actor may hear (Recording.restrict, as the recordings list:
    the client's operators all, a user their own calls' where the client lets users listen), oldest
    first. Only on the actor's own client's host: the platform's and brands' hosts have none."""
    wanted = {u for u in call_uuids if u}
    if client is None or not wanted or actor.role not in (Role.CLIENT, Role.USER) or actor.client_id != client.pk:
        return {}
    found: dict[uuid.UUID, list[Recording]] = {}
    with tenant_context(client):
        rows = Recording.objects.restrict(actor).filter(kind=Recording.Kind.CALL, call_uuid__in=wanted)
        for recording in rows.order_by("started_at", "id"):
            found.setdefault(recording.call_uuid, []).append(recording)
    return found


@dataclass(frozen=True)
class LineMode:
    """How a line's calls are recorded: its user's own `choice` (client: as the company chose) and the
    `effective` mode the engines apply (the choice only while the client lets users choose)."""

    choice: str
    effective: str
    users_choose: bool

    @property
    def own(self) -> bool:
        """The user's own choice decides (else the company's mode)."""
        return self.users_choose and self.choice != LineChoice.CLIENT

    @property
    def label(self) -> str:
        return mode_label(self.effective)


def line_modes(client: Client, extension_ids: Iterable[int]) -> dict[int, LineMode]:
    """Extension id -> its LineMode, as the engine's recording rules read them (telephony/engine/
    applications/recording.py load_rules); two queries for any number of lines."""
    ids = list(extension_ids)
    with tenant_context(client):
        policy = RecordingPolicy.objects.filter(pk=1).first() or RecordingPolicy(pk=1)
        chosen = dict(LineRecording.objects.filter(extension_id__in=ids).values_list("extension_id", "mode"))
    modes = {}
    for pk in ids:
        choice = chosen.get(pk, LineChoice.CLIENT)
        own = policy.users_choose and choice != LineChoice.CLIENT
        modes[pk] = LineMode(choice, choice if own else policy.mode, policy.users_choose)
    return modes


def mode_label(mode: str) -> str:
    """A mode in the reader's language, short (the portal's tables)."""
    return {Mode.NEVER: LineChoice.NEVER.label, Mode.ALWAYS: LineChoice.ALWAYS.label,
            Mode.ON_DEMAND: LineChoice.ON_DEMAND.label}.get(mode, mode)  # fmt: skip
