"""Mass notification: the message library and campaigns that call a list of numbers, play a message
and ask for a key to confirm.

A campaign runs as a Celery task (`conferencing.tasks.campaign_dispatch`): it hands each number to a
call engine ("engine.notify"), which rings the line, plays the message, collects the key and writes
the outcome back (target_result, from the engine's thread). The task runs again after the
campaign's retry interval for the numbers that did not confirm, until they did or have used their
attempts; then the campaign is done. Messages are WAV files (8 kHz mono) under OCX_MESSAGES_DIR.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import wave
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_tenants.utils import schema_context, tenant_context

from conferencing.models import Campaign, Message, Target, numbers_of
from telephony.media.player import AUDIO_FORMATS, AudioFileError, file_samples
from telephony.models import Extension
from tenants.audit import audit
from tenants.errors import NotAllowed, PlatformError
from tenants.models import Client, Role, User

MAX_MESSAGE_SECONDS = 300
STUCK_AFTER = dt.timedelta(minutes=10)  # a target still "calling" this long: its engine died
FINAL = (Target.State.CONFIRMED, Target.State.REFUSED)  # never called again


def message_path(client_id: int, message_id: int) -> Path:
    return Path(settings.OCX_MESSAGES_DIR) / str(client_id) / f"message-{message_id}.wav"


def _require_member(actor: User, client: Client) -> None:
    if actor.role not in (Role.CLIENT, Role.USER) or actor.client_id != client.pk:
        raise NotAllowed(_("Only the client's operators and users manage its messages and notifications."))


def write_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.astype("<i2").tobytes())
    partial.replace(path)  # whole or not at all: an engine never plays half a file


class AudioUploadRefused(ValueError):
    """An uploaded file that is not usable audio (too large, not audio, too long): the reason, for the user."""


def upload_samples(upload, *, max_seconds: int) -> np.ndarray:
    """An uploaded audio file (a file object of any format FFmpeg reads: WAV, MP3, Ogg, FLAC...) as 8 kHz
    mono samples, for write_wav(); AudioUploadRefused says why not. Library messages, a client's prompts."""
    limit = settings.OCX_AUDIO_UPLOAD_MAX_BYTES
    if getattr(upload, "size", 0) > limit:  # before FFmpeg spends any time on it
        too_big = _("The file is larger than %(megabytes)s MB; upload a shorter or compressed recording.")
        raise AudioUploadRefused(too_big % {"megabytes": f"{limit / 1024 / 1024:g}"})
    with tempfile.NamedTemporaryFile(suffix=Path(getattr(upload, "name", "x")).suffix) as tmp:
        for chunk in upload.chunks() if hasattr(upload, "chunks") else [upload.read()]:
            tmp.write(chunk)
        tmp.flush()
        try:
            return file_samples(tmp.name, max_seconds=max_seconds, formats=AUDIO_FORMATS)
        except AudioFileError as exc:
            # The reason without the temporary file's path and FFmpeg's error number.
            why = str(exc).split(": ", 1)[-1].split(" (", 1)[0]
            if why.startswith("not a readable"):
                why = _("not audio in a format that can be read")
            if max_seconds >= 120:
                minutes = max_seconds // 60
                length = ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
            else:
                length = ngettext("%(count)d second", "%(count)d seconds", max_seconds) % {"count": max_seconds}
            problem = _("Not a usable audio file: %(why)s. Upload a WAV, MP3, Ogg, FLAC or other audio file of at most "
                        "%(length)s.")  # fmt: skip
            raise AudioUploadRefused(problem % {"why": why, "length": length}) from None


@transaction.atomic
def message_create(*, actor: User, client: Client, name: str, upload=None) -> Message:
    """A library message; with `upload` (a file object of any audio format FFmpeg reads) its audio,
    else it waits to be recorded by phone (dial *89<id>)."""
    _require_member(actor, client)
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}  # the name's and the audio's errors together
    if not name:
        errors["name"] = [_("Name the message.")]
    samples = None
    if upload is not None:
        try:
            samples = upload_samples(upload, max_seconds=MAX_MESSAGE_SECONDS)
        except AudioUploadRefused as exc:
            errors["audio"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    with tenant_context(client):
        message = Message.objects.create(name=name[:100], created_by_id=actor.pk, recorded=samples is not None,
                                         seconds=len(samples) / 8000 if samples is not None else 0)  # fmt: skip
        if samples is not None:
            write_wav(message_path(client.pk, message.pk), samples)
        audit(actor, "message.create", message, client=client)
    return message


class MessageInUse(PlatformError):
    """A message that a campaign plays (its report needs it) cannot be deleted."""

    code = "message-in-use"
    status = 409


@transaction.atomic
def message_delete(*, actor: User, client: Client, message: Message) -> None:
    """Delete a library message and its audio; refused while a campaign uses it."""
    _require_member(actor, client)
    if actor.role == Role.USER and message.created_by_id != actor.pk:
        raise NotAllowed(_("You may only delete your own messages."))
    with tenant_context(client):
        using = list(Campaign.objects.filter(message_id=message.pk).values_list("name", flat=True)[:3])
        if using:
            raise MessageInUse(
                _("The message %(name)s is used by the notification %(campaigns)s: it stays while a campaign needs it.")
                % {"name": message.name, "campaigns": ", ".join(using)}
            )
        from menus.models import Menu

        greeting = list(Menu.objects.filter(greeting_message=message).values_list("name", flat=True)[:3])
        if greeting:
            raise MessageInUse(
                _("The message %(name)s greets callers of the menu %(menus)s: it stays while a menu needs it.")
                % {"name": message.name, "menus": ", ".join(greeting)}
            )
        audit(actor, "message.delete", message, client=client)
        path = message_path(client.pk, message.pk)
        message.delete()
    transaction.on_commit(lambda: path.unlink(missing_ok=True))


def message_recorded(client_id: int, message_id: int, seconds: float) -> None:
    """The engine recorded the message by phone (its file is in place)."""
    client = Client.objects.get(pk=client_id)
    with schema_context(client.schema_name):
        Message.objects.filter(pk=message_id).update(recorded=True, seconds=seconds)


def message_for_recording(client_id: int, message_id: int, account_id: int | None) -> Path | None:
    """Where a line may record message `message_id` by phone: its creator's line only."""
    client = Client.objects.get(pk=client_id)
    with schema_context(client.schema_name):
        message = Message.objects.filter(pk=message_id).first()
    if message is None or account_id is None or message.created_by_id != account_id:
        return None
    return message_path(client_id, message_id)


def outside_numbers_problem(client: Client, numbers: list[str]) -> str:
    """Why a campaign cannot call these numbers ("" when it can), as the engine would place them
    (network.place_out): what is no phone number, an emergency number, one no route of the brand
    reaches (pstn.routing), one the client's outbound policy or its blocked destinations refuse. (The
    engine applies the policy and the lists again at each call, as they are then: a number they
    refuse later is reported on its target.) Runs in the client's schema."""
    from pstn.numbering import EMERGENCY, classify
    from pstn.policy import load_policy, refusal
    from pstn.routing import Router
    from telephony.blocking import blocklists_load

    router, rules, lists = Router.load(client.brand_id), load_policy(client.pk), blocklists_load()
    unrouted, invalid, emergency, refused = [], [], [], []
    for number in numbers:
        dialled = classify(number, client.country)
        if dialled is None:
            invalid.append(number)
            continue
        if dialled.kind == EMERGENCY:
            emergency.append(number)
            continue
        route = router.route_for(dialled.e164.lstrip("+"))
        carriers = [router.carriers.get(m.carrier_id) for m in route.members] if route else []
        if not [c for c in carriers if c is not None and c.enabled and c.gateways]:
            unrouted.append(number)
        elif (why := refusal(rules, dialled)) is not None:
            refused.append(f"{number}: {why[1][:1].lower()}{why[1][1:]}")
        elif (entry := lists.destination_block(dialled.e164)) is not None:
            refused.append(_("%(number)s: calls to it are blocked by the company's list (%(entry)s)")
                           % {"number": number, "entry": entry})  # fmt: skip
    said = []
    if unrouted:
        said.append(_("no route of the brand reaches %(numbers)s") % {"numbers": _some(unrouted)})
    if emergency:
        said.append(_("%(numbers)s: a notification never calls an emergency number") % {"numbers": _some(emergency)})
    if invalid:
        said.append(ngettext("%(numbers)s is neither an extension of this company nor a phone number in %(country)s",
                             "%(numbers)s are neither extensions of this company nor phone numbers in %(country)s",
                             len(invalid)) % {"numbers": _some(invalid), "country": client.country})  # fmt: skip
    said += refused[:5]
    text = "; ".join(said)
    return text[:1].upper() + text[1:] + "." if text else ""


def _some(numbers: list[str], shown: int = 5) -> str:
    more = len(numbers) - shown
    listed = ", ".join(numbers[:shown])
    return ngettext("%(listed)s and %(more)d more", "%(listed)s and %(more)d more", more) % {
        "listed": listed, "more": more} if more > 0 else listed  # fmt: skip


@transaction.atomic
def campaign_create(*, actor: User, client: Client, name: str, message: Message | None, numbers: str,
                    confirm_digit: str = "1", retries: int = 2, retry_seconds: int = 300) -> Campaign:  # fmt: skip
    _require_member(actor, client)
    with tenant_context(client):
        campaign = Campaign(name=(name or "").strip(), message=message, confirm_digit=confirm_digit, retries=retries,
                            retry_seconds=retry_seconds, created_by_id=actor.pk)  # fmt: skip
        errors: dict[str, list[str]] = {}
        try:
            campaign.full_clean(exclude=["created_by"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
        listed, most = numbers_of(numbers or ""), settings.OCX_CAMPAIGN_MAX_NUMBERS
        if len(listed) > most:  # said before judging each: a call each, at the company's expense
            errors["numbers"] = [_("A campaign calls at most %(most)s numbers; this list has %(count)s.")
                                 % {"most": most, "count": len(listed)}]  # fmt: skip
        else:
            lines = set(Extension.objects.values_list("number", flat=True))
            outside = [n for n in listed if n not in lines]  # called through the carriers
            problem = outside_numbers_problem(client, outside) if outside else ""
            if not listed:
                errors["numbers"] = [_("List the numbers to call, one a line.")]
            elif problem:
                errors["numbers"] = [problem]
        if message is not None and not message.recorded:
            errors["message"] = [_("The message has no audio yet: upload it or record it by phone.")]
        if errors:
            raise ValidationError(errors)
        campaign.save()
        Target.objects.bulk_create(Target(campaign=campaign, number=n) for n in listed)
        audit(actor, "campaign.create", campaign, client=client, numbers=len(listed))
    return campaign


def campaign_start(*, actor: User, client: Client, campaign: Campaign) -> Campaign:
    """Start calling (a running or finished campaign is not started again)."""
    from conferencing.tasks import campaign_dispatch

    _require_member(actor, client)
    with tenant_context(client):
        started = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DRAFT).update(
            status=Campaign.Status.RUNNING, started_at=timezone.now())  # fmt: skip
        campaign.refresh_from_db()
    if not started:
        raise ValidationError(
            {
                "status": _("The campaign is %(status)s already.")
                % {"status": str(campaign.get_status_display()).lower()}
            }
        )
    audit(actor, "campaign.start", campaign, client=client)
    transaction.on_commit(lambda: campaign_dispatch.delay(client.pk, campaign.pk))
    return campaign


def targets_due(campaign: Campaign, now: dt.datetime) -> tuple[list[Target], float | None]:
    """The targets to call now, and in how many seconds the next retry falls due (None: nothing
    left to retry). Runs in the client's schema."""
    due, next_in = [], None
    for target in campaign.targets.all():
        if target.state in FINAL or target.attempts > campaign.retries:
            continue
        if target.state == Target.State.CALLING:
            if target.last_called_at and now - target.last_called_at > STUCK_AFTER:
                target.state, target.cause = Target.State.FAILED, "engine-lost"
                target.save(update_fields=["state", "cause"])
            else:
                next_in = min(next_in or campaign.retry_seconds, campaign.retry_seconds)
                continue
        if target.state == Target.State.PENDING:
            due.append(target)
            continue
        wait = (target.last_called_at + dt.timedelta(seconds=campaign.retry_seconds) - now).total_seconds()
        if wait <= 0:
            due.append(target)
        else:
            next_in = wait if next_in is None else min(next_in, wait)
    return due, next_in


def target_result(client_id: int, target_id: int, *, state: str, cause: str, answered_at, confirmed_at) -> None:
    """The engine's word on one call of a campaign (from its thread); the campaign is done when no
    number is left to call."""
    client = Client.objects.get(pk=client_id)
    with schema_context(client.schema_name), transaction.atomic():
        target = Target.objects.select_for_update().select_related("campaign").filter(pk=target_id).first()
        if target is None:
            return
        target.state, target.cause = state, cause[:40]
        target.answered_at = answered_at or target.answered_at  # an earlier attempt's answer stays known
        target.confirmed_at = confirmed_at
        target.save(update_fields=["state", "cause", "answered_at", "confirmed_at"])
        campaign_maybe_done(target.campaign)


def campaign_maybe_done(campaign: Campaign) -> bool:
    """Mark a running campaign done when every number confirmed or used its attempts (client schema)."""
    busy = models.Q(state__in=[Target.State.PENDING, Target.State.CALLING])
    open_targets = campaign.targets.exclude(state__in=FINAL).filter(busy | models.Q(attempts__lte=campaign.retries))
    if campaign.status != Campaign.Status.RUNNING or open_targets.exists():
        return False
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.DONE, finished_at=timezone.now())
    return True
