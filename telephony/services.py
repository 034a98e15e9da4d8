"""Writes on a client's telephony: employees and their extensions and SIP credentials."""

from __future__ import annotations

import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django_tenants.utils import tenant_context

from pstn.directory import pstn_announce
from pstn.models import Number
from telephony.directory import sip_directory_drop_line, sip_directory_put_line, sip_directory_rooms_changed
from telephony.models import Block, CallerBlocking, Extension, Forwarding, Schedule
from telephony.schedules import parse_holidays, parse_hours
from telephony.users_csv import FIELD_COLUMNS, Problem, parse_users, users_invalid
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.events import CLOSE_SIGNED_OUT, group_for_sockets_of_user, sockets_close
from tenants.models import Client, Role, User
from tenants.services import account_validate_new
from voicemail.models import Mailbox
from voicemail.services import mailbox_files, mailbox_follow_extension, shared_box_numbered


def sip_ha1(username: str, realm: str, secret: str) -> tuple[str, str]:
    """The MD5 and SHA-256 digest HA1 of a SIP secret (RFC 7616 section 3.4.2)."""
    material = f"{username}:{realm}:{secret}".encode()
    # MD5 is what RFC 2617 digest clients speak; it is a protocol requirement, not our choice.
    return hashlib.md5(material, usedforsecurity=False).hexdigest(), hashlib.sha256(material).hexdigest()


def new_sip_secret() -> str:
    return secrets.token_urlsafe(12)


def _require_operator(actor: User, client: Client) -> None:
    if actor.role != Role.CLIENT or actor.client_id != client.pk:
        raise NotAllowed(gettext("Only the client's operators manage its users."))


def _known_text(fields: dict, known: tuple[str, ...]) -> None:
    """Only the row's own fields, and no NUL in a text (PostgreSQL holds none): field errors naming them."""
    refused = set(fields) - set(known)
    if refused:
        raise ValidationError({name: gettext("Unknown field.") for name in refused})
    nul = gettext("Must not contain NUL characters.")
    bad = {name: nul for name, v in fields.items() if isinstance(v, str) and "\x00" in v}
    if bad:
        raise ValidationError(bad)


def _set_secret(extension: Extension, client: Client, secret: str) -> None:
    extension.ha1_md5, extension.ha1_sha256 = sip_ha1(extension.sip_username, client.sip_domain, secret)
    extension.secret_changed_at = timezone.now()


def extension_check_new(
    *,
    client: Client,
    email: str | None = None,
    name: str | None = None,
    password: str | None = None,
    number: str | None = None,
    display_name: str | None = "",
    sip_username: str | None = "",
    password_later: bool = False,
) -> tuple[Extension, str]:
    """A new employee's line (unsaved) and account e-mail, or one ValidationError with every refused
    field. A field left empty follows another (caller name the name, SIP user name the extension):
    what is wrong with it is the other field's error, not its own. `password_later`: no password is
    given, the person chooses one through the sign-in page's reset link (an import)."""
    if password_later:
        password = secrets.token_urlsafe(24)  # passes the password rules: only the rest is checked
    number = (number or "").strip()
    extension = Extension(
        number=number,
        display_name=(display_name or name or "").strip(),
        sip_username=((sip_username or "").strip() or number),
    )
    errors: dict[str, list[str]] = {}
    try:
        email = account_validate_new(email=email, password=password, name=name)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    with tenant_context(client):
        if Extension.objects.filter(number=extension.number).exists():
            errors["number"] = [gettext("Extension %(number)s is already in use.") % {"number": extension.number}]
        elif shared_box_numbered(extension.number) is not None:
            errors["number"] = [
                gettext("%(number)s is a shared voicemail box's number.") % {"number": extension.number}
            ]
        elif Extension.objects.filter(sip_username=extension.sip_username).exists():
            taken = gettext("The SIP user name %(name)s is already in use.") % {"name": extension.sip_username}
            if sip_username:
                errors["sip_username"] = [taken]
            else:
                other = gettext("Give this line another SIP user name.")
                errors["number"] = [f"{taken} {other}"]
    try:
        extension.full_clean(exclude=["account", "ha1_md5", "ha1_sha256", "secret_changed_at"], validate_unique=False)
    except ValidationError as exc:
        followers = {"display_name": display_name, "sip_username": sip_username}
        for key, messages in exc.message_dict.items():
            if key in followers and not followers[key]:
                continue  # empty, it took its leader's value: the leader's error says it
            errors.setdefault(key, messages)
    if errors:
        raise ValidationError(errors)
    return extension, email


@transaction.atomic
def extension_create(
    *,
    actor: User,
    client: Client,
    email: str,
    name: str,
    password: str = "",
    number: str,
    display_name: str = "",
    sip_username: str = "",
    password_later: bool = False,
) -> tuple[Extension, str]:
    """An employee with a login and an extension; returns the generated SIP secret, shown once.
    `password_later`: the account has no usable password until its person sets one by the reset link."""
    _require_operator(actor, client)
    extension, email = extension_check_new(
        client=client,
        email=email,
        name=name,
        password=password,
        number=number,
        display_name=display_name,
        sip_username=sip_username,
        password_later=password_later,
    )
    with tenant_context(client):
        password = None if password_later else password  # None: an unusable password (Django)
        account = User.objects.create_user(email, password, name=name.strip(), role=Role.USER, client=client)
        secret = new_sip_secret()
        extension.account = account
        _set_secret(extension, client, secret)
        extension.save()
        mailbox_follow_extension(extension)
        sip_directory_put_line(client, extension)
        audit(actor, "extension.create", extension, client=client, email=email)
    return extension, secret


@transaction.atomic
def extension_update(*, actor: User, client: Client, extension: Extension, **fields) -> Extension:
    """Operators change number, caller name and permissions; a user their caller name (the SIP user name
    changes only with a new secret, see extension_reset_secret, since the hashes include it)."""
    operator_fields = {
        "number",
        "display_name",
        "may_intercept",
        "may_barge",
        "supervision_exempt",
    }  # permissions are granted, not taken
    allowed = operator_fields if actor.role == Role.CLIENT else {"display_name"}
    if actor.role == Role.USER and extension.account_id != actor.pk:
        raise NotAllowed(gettext("You may only change your own line."))
    if actor.role not in (Role.CLIENT, Role.USER) or actor.client_id != client.pk:
        raise NotAllowed(gettext("Only the client's operators manage its users."))
    if set(fields) - allowed:
        raise NotAllowed(
            gettext("You may not change: %(fields)s.") % {"fields": ", ".join(sorted(set(fields) - allowed))}
        )
    with tenant_context(client):
        for name, value in fields.items():
            setattr(extension, name, value.strip() if isinstance(value, str) else value)
        errors = {}
        if Extension.objects.filter(number=extension.number).exclude(pk=extension.pk).exists():
            errors["number"] = [gettext("Extension %(number)s is already in use.") % {"number": extension.number}]
        elif shared_box_numbered(extension.number) is not None:
            errors["number"] = [
                gettext("%(number)s is a shared voicemail box's number.") % {"number": extension.number}
            ]
        try:
            extension.full_clean(exclude=["account"])
        except ValidationError as exc:
            errors = {**exc.message_dict, **errors}
        if errors:
            raise ValidationError(errors)
        extension.save()
        mailbox_follow_extension(extension)
        sip_directory_put_line(client, extension)
        audit(actor, "extension.update", extension, client=client, fields=sorted(fields))
    return extension


def users_import(*, actor: User, client: Client, data: bytes) -> list[tuple[Extension, str]]:
    """The people of a users file (telephony.users_csv), all or nobody: each is checked and created like
    one from the form (extension_check_new, extension_create), every refusal named by line and column
    in one UsersInvalid. Their accounts get no password (each chooses one by the reset link); the new
    lines come back with their SIP secrets, to be shown once."""
    _require_operator(actor, client)
    rows, problems = parse_users(data)
    fields = [{"number": row["extension"], "name": row["name"], "email": row["email"],
               "display_name": row["caller_name"], "sip_username": row["sip_username"]} for row in rows]  # fmt: skip
    for row, values in zip(rows, fields, strict=True):
        try:
            extension_check_new(client=client, password_later=True, **values)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                problems += [Problem(row["line"], FIELD_COLUMNS.get(key, ""), m) for m in messages]
    if problems:
        raise users_invalid(problems)
    created = []
    with transaction.atomic():
        for row, values in zip(rows, fields, strict=True):
            try:
                extension, secret = extension_create(actor=actor, client=client, password_later=True, **values)
            except ValidationError as exc:  # taken meanwhile by another request: nothing of the file stays
                taken = [(key, m) for key, ms in exc.message_dict.items() for m in ms]
                raise users_invalid([Problem(row["line"], FIELD_COLUMNS.get(key, ""), m) for key, m in taken]) from None
            flags = {name: row[name] for name in ("may_intercept", "may_barge") if row[name]}
            if flags:
                extension = extension_update(actor=actor, client=client, extension=extension, **flags)
            created.append((extension, secret))
        audit(actor, "users.import", client, client=client, count=len(created))
    return created


@transaction.atomic
def extension_reset_secret(
    *, actor: User, client: Client, extension: Extension, sip_username: str | None = None, secret: str | None = None
) -> str:
    """A new SIP secret (and optionally user name) for a line; returned once, only hashes kept.

    The secret is generated unless one is given (the demo data gives known ones)."""
    if not (
        (actor.role == Role.CLIENT and actor.client_id == client.pk)
        or (actor.role == Role.USER and extension.account_id == actor.pk)
    ):
        raise NotAllowed(gettext("You may not reset this secret."))
    with tenant_context(client):
        old_username = extension.sip_username
        if sip_username:
            extension.sip_username = sip_username.strip()
            extension.full_clean(exclude=["account", "ha1_md5", "ha1_sha256", "secret_changed_at"])
        secret = secret or new_sip_secret()
        _set_secret(extension, client, secret)
        extension.save()
        sip_directory_put_line(client, extension, old_username=old_username)
        audit(actor, "extension.reset_secret", extension, client=client)
    return secret


@transaction.atomic
def extension_delete(*, actor: User, client: Client, extension: Extension) -> None:
    """Remove an employee: their extension in the client schema and their login account."""
    _require_operator(actor, client)
    with tenant_context(client):
        account = User.objects.get(pk=extension.account_id)
        audit(actor, "extension.delete", extension, client=client, email=account.email)
        sip_directory_drop_line(client, extension.sip_username)
        sockets_close(group_for_sockets_of_user(account.pk), CLOSE_SIGNED_OUT)
        files = mailbox_files(Mailbox.objects.filter(extension=extension).first())
        extension.delete()  # and the user's voicemail box with it (the files once committed)
        transaction.on_commit(lambda: [path.unlink(missing_ok=True) for path in files])
        account.delete()


def sip_ban_release(*, actor: User, key: str) -> None:
    """Lift an anti-flood or brute-force ban at once on every edge (god, or the brand for its clients)."""
    from django.http import Http404

    from config.redis_store import get_redis, rkey
    from telephony.selectors import sip_bans

    ban = next((b for b in sip_bans(actor=actor) if b["key"] == key), None)
    if ban is None:
        raise Http404("No such ban.")
    message = (
        f"release ip {ban['ip']}" if ban["kind"] == "ip" else f"release auth {ban['domain']} {ban['user']} {ban['ip']}"
    )
    pipe = get_redis().pipeline()
    pipe.delete(key)
    if ban["kind"] == "auth":
        pipe.delete(rkey(f"authfail:{ban['domain']}:{ban['user']}:{ban['ip']}"))
    pipe.publish(rkey("sip:bans"), message)
    pipe.execute()
    audit(actor, "sip.ban_release", key, client=ban["client"], kind=ban["kind"], ip=ban["ip"])


def sip_rule_check(*, client: Client | None, network: str | None, action: str | None) -> str:
    """The rule's network as stored, or one ValidationError with every refused field (None: a value
    the form refused already)."""
    import ipaddress

    from tenants.models import SipAddressRule

    errors: dict[str, list[str]] = {}
    try:
        network = str(ipaddress.ip_network((network or "").strip(), strict=False))
    except ValueError:
        errors["network"] = [gettext("Enter an address or a network such as 203.0.113.0/24.")]
    if action not in SipAddressRule.Action.values:
        errors["action"] = [gettext("Choose allow or deny.")]
    if not errors and SipAddressRule.objects.filter(client=client, network=network, action=action).exists():
        errors["network"] = [gettext("This rule exists already.")]
    if errors:
        raise ValidationError(errors)
    return network


@transaction.atomic
def sip_rule_create(*, actor: User, client: Client | None, network: str, action: str, note: str = "") -> object:
    """Allow or deny a network at the edge, for one client (brand or god) or for all (god)."""

    from telephony.directory import sip_directory_put_rules
    from tenants.models import SipAddressRule

    if actor.role not in (Role.GOD, Role.BRAND) or (client is None and actor.role != Role.GOD):
        raise NotAllowed(gettext("Only the platform operator sets rules for every client."))
    if client is not None and not Client.objects.restrict(actor).filter(pk=client.pk).exists():
        raise NotAllowed(gettext("Not one of your clients."))
    network = sip_rule_check(client=client, network=network, action=action)
    rule = SipAddressRule.objects.create(client=client, network=network, action=action, note=note.strip()[:200])
    sip_directory_put_rules(client)
    audit(actor, "sip.rule_create", rule, client=client, network=network, rule=action)
    return rule


@transaction.atomic
def sip_rule_delete(*, actor: User, rule) -> None:
    from telephony.directory import sip_directory_put_rules

    if actor.role != Role.GOD and (rule.client is None or rule.client.brand_id != actor.brand_id):
        raise NotAllowed(gettext("Not one of your rules."))
    audit(actor, "sip.rule_delete", rule, client=rule.client, network=rule.network, rule=rule.action)
    client = rule.client
    rule.delete()
    sip_directory_put_rules(client)


# Schedules: office hours and holidays (telephony/schedules.py) -------------------------------------

SCHEDULE_FIELDS = ("name", "hours", "holidays")


@transaction.atomic
def schedule_save(*, actor: User, client: Client, schedule: Schedule | None = None, **fields) -> Schedule:
    """Create (schedule None) or change a schedule; every bad line of the hours or holidays is a
    field error. The engines read the client's numbers and schedules again."""
    _require_operator(actor, client)
    _known_text(fields, SCHEDULE_FIELDS)
    with tenant_context(client):
        schedule = schedule or Schedule()
        for name, value in fields.items():
            setattr(schedule, name, value.strip() if isinstance(value, str) else value)
        errors = {}
        for check in (lambda: parse_hours(schedule.hours), lambda: parse_holidays(schedule.holidays)):
            try:
                check()
            except ValidationError as error:
                errors.update(error.message_dict)
        try:
            schedule.full_clean(validate_unique=False)
        except ValidationError as error:
            errors.update(error.message_dict)
        if Schedule.objects.filter(name=schedule.name).exclude(pk=schedule.pk).exists():
            errors["name"] = [gettext("A schedule named %(name)s exists already.") % {"name": schedule.name}]
        if errors:
            raise ValidationError(errors)
        created = schedule.pk is None
        schedule.save()
        audit(actor, "schedule.create" if created else "schedule.update", schedule, client=client,
              fields=sorted(fields))  # fmt: skip
    pstn_announce()
    return schedule


@transaction.atomic
def schedule_delete(*, actor: User, client: Client, schedule: Schedule) -> None:
    """Remove a schedule no number and no rule set uses."""
    _require_operator(actor, client)
    from menus.routing import schedule_users
    from pstn.models import Number

    users = list(Number.objects.filter(client=client, schedule=schedule.pk).values_list("e164", flat=True)[:5])
    with tenant_context(client):
        users += schedule_users(schedule.pk)
    if users:
        raise ValidationError(
            {"schedule": gettext("These use it: %(users)s. Point them elsewhere first.") % {"users": ", ".join(users)}}
        )
    with tenant_context(client):
        audit(actor, "schedule.delete", schedule, client=client, name=schedule.name)
        schedule.delete()
    pstn_announce()


# Forwarding, do-not-disturb and find-me (telephony.models.Forwarding) --------------------------------

FORWARDING_FIELDS = ("dnd", "always_kind", "always_target", "busy_kind", "busy_target", "no_answer_kind",
                     "no_answer_target", "no_answer_after", "unreachable_kind", "unreachable_target", "find_me",
                     "find_me_confirm")  # fmt: skip
FORWARDING_WHEN = ("always", "busy", "no_answer", "unreachable")


def _may_handle(actor: User, client: Client, extension: Extension) -> None:
    """The client's operators set any user's forwarding; a user their own."""
    if actor.role == Role.CLIENT and actor.client_id == client.pk:
        return
    if actor.role == Role.USER and actor.client_id == client.pk and extension.account_id == actor.pk:
        return
    raise NotAllowed(gettext("Not your line."))


def forwarding_of(client: Client, extension: Extension) -> Forwarding:
    """The line's forwarding as stored, or the defaults (nothing forwarded) when it has none yet."""
    with tenant_context(client):
        return Forwarding.objects.filter(extension=extension).first() or Forwarding(extension=extension)


@transaction.atomic
def forwarding_save(*, actor: User | None, client: Client, extension: Extension, **fields) -> Forwarding:
    """Change a line's forwarding (the fields given; the others keep their values). Every bad field is
    a field error naming it: a destination that does not exist, a forwarding to the line itself, a
    find-me number that is not a phone number of the client's country or abroad. `actor` None is the
    line's own phone (a feature code). The engines read the client's dial plan again."""
    from telephony.destinations import clean

    if actor is not None:
        _may_handle(actor, client, extension)
    refused = set(fields) - set(FORWARDING_FIELDS)
    if refused:
        raise ValidationError({name: gettext("Unknown field.") for name in refused})
    with tenant_context(client):
        # Locked for the rest of the transaction: a change made meanwhile (another portal page, the phone's
        # feature code) is read first and kept, never overwritten, and two first saves do not both insert.
        forwarding, _ = Forwarding.objects.select_for_update().get_or_create(extension=extension)
    errors: dict[str, list[str]] = {}
    for name, value in fields.items():
        if isinstance(value, str) and "\x00" in value:
            errors[name] = [gettext("Must not contain NUL characters.")]
        else:
            setattr(forwarding, name, value.strip() if isinstance(value, str) else value)
    for when in FORWARDING_WHEN:
        kind, target = getattr(forwarding, f"{when}_kind"), getattr(forwarding, f"{when}_target")
        if kind == "user" and target.strip() == extension.number:
            errors.setdefault(f"{when}_target", []).append("A line cannot forward to itself.")
            continue
        try:
            kind, target = clean(client, kind, target, field=when)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(messages)
            continue
        setattr(forwarding, f"{when}_kind", kind)
        setattr(forwarding, f"{when}_target", target)
    if forwarding.find_me:
        try:
            _, forwarding.find_me = clean(client, "external", forwarding.find_me, field="find_me")
        except ValidationError as error:
            errors.setdefault("find_me", []).extend(error.message_dict.get("find_me_target", error.messages))
        else:
            if Number.objects.filter(e164=forwarding.find_me, client=client).exists():  # (it would ring here)
                errors.setdefault("find_me", []).append(
                    gettext("One of the company's own numbers: give an external one.")
                )
    after = forwarding.no_answer_after
    if not isinstance(after, int) or not 5 <= after <= 120:
        errors.setdefault("no_answer_after", []).append(gettext("Between 5 and 120 seconds."))
    if errors:
        raise ValidationError(errors)
    with tenant_context(client):
        forwarding.full_clean(exclude=["extension"], validate_unique=False)
        forwarding.save()
        if actor is not None:
            audit(actor, "forwarding.update", forwarding, client=client, fields=sorted(fields))
    sip_directory_rooms_changed(client)
    if "dnd" in fields:  # do-not-disturb is the person's presence too (im/presence.py): their colleagues see it
        from im.presence import manual_changed

        transaction.on_commit(lambda: manual_changed(client, [extension.account_id]))
    return forwarding


# Blocking lists: blocked callers and blocked destinations (telephony/blocking.py) ----------------------

BLOCK_FIELDS = ("direction", "kind", "value", "note")


@transaction.atomic
def block_save(*, actor: User, client: Client, block: Block | None = None, **fields) -> Block:
    """Add (block None) or change an entry of the client's blocking lists. A number or prefix is read
    as the client's people write it (in its country) and stored as E.164; a bad one, a duplicate, an
    emergency number, a full list, NUL characters and overlong text are field errors naming the field.
    The engines read the client's dial plan again."""
    from telephony import blocking

    _require_operator(actor, client)
    _known_text(fields, BLOCK_FIELDS)
    if block is not None and fields.get("direction", block.direction) != block.direction:
        raise ValidationError({"direction": gettext("An entry stays on its list: remove it and add it to the other.")})
    with tenant_context(client):
        block = block or Block()
        for name, value in fields.items():
            setattr(block, name, value.strip() if isinstance(value, str) else value)
        errors: dict[str, list[str]] = {}
        if len(block.note) > 200:
            errors["note"] = [gettext("At most 200 characters.")]
        try:
            block.kind, block.value = blocking.clean_entry(block.direction, block.kind, block.value, client.country)
        except ValidationError as error:
            errors.update(error.message_dict)
        if not errors:
            same = Block.objects.filter(direction=block.direction, kind=block.kind, value=block.value)
            if same.exclude(pk=block.pk).exists():
                entry = block.value or gettext("Anonymous callers")
                errors["kind" if block.kind == blocking.ANONYMOUS else "value"] = [
                    gettext("%(entry)s is on the list already.") % {"entry": entry}
                ]
            elif block.pk is None and Block.objects.filter(direction=block.direction).count() >= blocking.MAX_ENTRIES:
                errors["value"] = [
                    gettext("The list is full: at most %(most)s entries.") % {"most": blocking.MAX_ENTRIES}
                ]
        if errors:
            raise ValidationError(errors)
        created = block.pk is None
        block.save()
        audit(actor, "block.create" if created else "block.update", block, client=client, direction=block.direction,
              kind=block.kind, value=block.value)  # fmt: skip
    sip_directory_rooms_changed(client)
    return block


@transaction.atomic
def block_delete(*, actor: User, client: Client, block: Block) -> None:
    _require_operator(actor, client)
    with tenant_context(client):
        audit(actor, "block.delete", block, client=client, direction=block.direction, kind=block.kind,
              value=block.value)  # fmt: skip
        block.delete()
    sip_directory_rooms_changed(client)


def caller_blocking_of(client: Client) -> CallerBlocking:
    """What the client does with blocked callers' calls (the default, decline, when never set)."""
    with tenant_context(client):
        return CallerBlocking.objects.filter(pk=1).first() or CallerBlocking(pk=1)


@transaction.atomic
def caller_blocking_update(*, actor: User, client: Client, action: str) -> CallerBlocking:
    """Decline blocked callers' calls (603), refuse them (403), or answer them with a message."""
    _require_operator(actor, client)
    if action not in CallerBlocking.Action.values:
        raise ValidationError(
            {"action": gettext("Choose one of: %(choices)s.") % {"choices": ", ".join(CallerBlocking.Action.values)}}
        )
    with tenant_context(client):
        setting, _ = CallerBlocking.objects.update_or_create(pk=1, defaults={"action": action})  # one row
        audit(actor, "caller_blocking.update", setting, client=client, chosen=action)
    sip_directory_rooms_changed(client)
    return setting
