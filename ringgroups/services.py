"""Writes on ring groups (a client's operators, in the portal and the API): `ring_group_save` (a group
with its members, every bad field at once: members' errors are named `members.<row>.<field>`) and
`ring_group_delete` (refused, saying what, while a number, a forwarding, a menu key or another group
points at it: telephony.destinations.pointing_at, the same list menus use).

A member is a user (by extension: their devices ring, never their forwarding or voicemail) or an
external number (as the client's users dial it: stored E.164; emergency numbers refused), each once;
a group has at least one. Its no-answer destination is any kind but the group itself."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from ringgroups.models import MAX_MEMBERS, Member, RingGroup
from telephony.directory import sip_directory_rooms_changed
from tenants.audit import audit
from tenants.fields import add as _add
from tenants.fields import take
from tenants.models import Client, User
from tenants.scoping import require_client_operator

FIELDS = ("name", "strategy", "ring_time", "no_answer_kind", "no_answer_target")
MEMBER_KINDS = ("user", "external")


def _require_operator(actor: User, client: Client) -> None:
    require_client_operator(actor, client, _("Only the client's operators manage its ring groups."))


@transaction.atomic
def ring_group_save(*, actor: User, client: Client, group: RingGroup | None = None,
                    members: list[dict] | None = None, **fields) -> RingGroup:  # fmt: skip
    """Create a group (group None) or change one (the fields given; the others keep their values).
    `members`, when given, are all the group's members from now on, in order: dicts of kind ("user"
    or "external") and target. Every bad field is a field error naming it."""
    from telephony.destinations import clean

    _require_operator(actor, client)
    with tenant_context(client):
        item = group or RingGroup()
        errors: dict[str, list[str]] = {}
        take(item, fields, FIELDS, errors)
        if "name" not in errors and item.name and RingGroup.objects.filter(name=item.name).exclude(pk=item.pk).exists():
            _add(errors, "name", _("A ring group named %(name)s exists already.") % {"name": item.name})
        try:
            kind, target = clean(client, item.no_answer_kind, item.no_answer_target, field="no_answer")
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                _add(errors, name, messages)
        else:
            if kind == "group" and item.pk is not None and target == str(item.pk):
                _add(errors, "no_answer_target", _("A group cannot send its unanswered calls to itself."))
            item.no_answer_kind, item.no_answer_target = kind, target
        rows = None if members is None else _rows(client, members, errors)
        if (rows if rows is not None else (list(item.members.all()) if item.pk else [])) == [] and not any(
            name.startswith("members.") for name in errors
        ):
            _add(errors, "members", _("Add at least one member."))
        try:
            item.full_clean(exclude=list(errors), validate_unique=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                _add(errors, name, messages)
        if errors:
            raise ValidationError(errors)
        created = item.pk is None
        item.save()
        if rows is not None:
            item.members.all().delete()
            Member.objects.bulk_create([Member(group=item, position=n, **row) for n, row in enumerate(rows)])
        audit(actor, "ring_group.create" if created else "ring_group.update", item, client=client,
              fields=sorted([*fields, *(["members"] if members is not None else [])]))  # fmt: skip
    sip_directory_rooms_changed(client)  # the engines read the groups with the dial plan
    return item


def _rows(client: Client, members, errors: dict) -> list[dict]:
    """The members as stored, in order; each bad row's fields as `members.<n>.<field>` errors."""
    from telephony.destinations import clean

    rows: list[dict] = []
    seen: dict[tuple[str, str], int] = {}
    if not isinstance(members, list | tuple):
        _add(errors, "members", _("The members are a list of kind and target."))
        return rows
    if len(members) > MAX_MEMBERS:
        _add(errors, "members", _("A group has at most %(max)s members.") % {"max": MAX_MEMBERS})
        return rows
    for n, member in enumerate(members):
        prefix = f"members.{n}."
        if not isinstance(member, dict):
            _add(errors, f"members.{n}", _("A member is a kind and a target."))
            continue
        kind, target = str(member.get("kind") or "").strip(), str(member.get("target") or "").strip()
        if kind not in MEMBER_KINDS:
            _add(errors, prefix + "kind", _("A member is a user or an external number."))
            continue
        try:
            kind, target = clean(client, kind, target, field="member")
        except ValidationError as error:
            _add(errors, prefix + "target", error.message_dict.get("member_target", error.messages))
            continue
        if (kind, target) in seen:
            _add(errors, prefix + "target", _("%(target)s is a member already (row %(first)s).")
                 % {"target": target, "first": seen[(kind, target)] + 1})  # fmt: skip
            continue
        seen[(kind, target)] = n
        rows.append({"kind": kind, "target": target})
    return rows


@transaction.atomic
def ring_group_delete(*, actor: User, client: Client, group: RingGroup) -> None:
    """Remove a group nothing points at (else a field error saying what does)."""
    from telephony.destinations import delete_unused

    _require_operator(actor, client)
    delete_unused(actor=actor, client=client, kind_name="group", row=group, field="group", action="ring_group.delete",
                  refusal=_("These lead to the ring group: %(users)s. Point them elsewhere first."))  # fmt: skip
