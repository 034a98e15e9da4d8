"""Voicemail, stored in the client's own schema: a box per user (its number is the user's extension,
kept in step by the extension services) and shared boxes of the client with a number of their own
("sales" at 800), and the messages callers leave in them.

Audio files live under OCX_VOICEMAIL_DIR/<client id>/<box id>/ (the box's id, not its number: a
user's extension may change); the rows hold paths relative to OCX_VOICEMAIL_DIR.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Role
from tenants.scoping import RestrictedQuerySet

box_number = RegexValidator(r"^[0-9]{2,4}$", _("A box number is 2 to 4 digits, like an extension."))
folder_name = RegexValidator(r"^[\w -]{1,40}$", _("A folder name is 1 to 40 letters, digits, spaces or dashes."))
GREETINGS = ("unavailable", "busy", "name")  # the greetings a box may have, as recorded or uploaded


def voicemail_dir() -> Path:
    return Path(settings.OCX_VOICEMAIL_DIR)


class MailboxQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """The schema holds one client: its operators see every box, a user their own and the shared
        boxes they are a member of."""
        if actor.role == Role.CLIENT:
            return self.all()
        if actor.role == Role.USER:
            mine = models.Q(extension__account_id=actor.pk) | models.Q(members__account_id=actor.pk)
            return self.filter(pk__in=Mailbox.objects.filter(mine).values("pk"))
        return self.none()


class Mailbox(models.Model):
    """A voicemail box: a user's (with their extension) or one the client shares (no extension)."""

    # A user's box: made with their extension, deleted with it; its number follows the extension's.
    extension = models.OneToOneField("telephony.Extension", on_delete=models.CASCADE, null=True, blank=True,
                                     related_name="mailbox")  # fmt: skip
    number = models.CharField(max_length=4, unique=True, validators=[box_number])
    name = models.CharField(max_length=100, blank=True, help_text=_("A shared box's name (sales, support...)."))
    # make_password() of the PIN (4 to 10 digits); empty: no PIN set yet (only the user's own line opens it).
    pin_hash = models.CharField(max_length=128, blank=True)
    max_seconds = models.PositiveSmallIntegerField(
        default=180,
        validators=[MinValueValidator(2), MaxValueValidator(3600)],
        help_text=_("Longest message (seconds)."),
    )
    max_messages = models.PositiveSmallIntegerField(
        default=100, validators=[MinValueValidator(1), MaxValueValidator(10000)], help_text=_("A full box takes none.")
    )
    # Where a caller who presses 0 goes (telephony/destinations.py); empty kind: 0 does nothing.
    operator_kind = models.CharField(max_length=20, blank=True)
    operator_target = models.CharField(max_length=100, blank=True)
    # The greetings' files, relative to OCX_VOICEMAIL_DIR; empty: none (the platform's prompt is said).
    greeting_unavailable = models.CharField(max_length=255, blank=True)
    greeting_busy = models.CharField(max_length=255, blank=True)
    greeting_name = models.CharField(max_length=255, blank=True)
    # E-mail: a user's box mails its user's address; a shared box the address given here.
    email = models.EmailField(blank=True, help_text=_("A shared box's address for new-message mail."))
    email_new_message = models.BooleanField(default=False, help_text=_("Mail each new message."))
    email_attach_audio = models.BooleanField(default=True, help_text=_("With the audio attached (else a link)."))
    email_missed_call = models.BooleanField(default=False, help_text=_("Mail each missed call."))
    # A shared box's members: the users who hear, file and delete its messages in the portal and the API.
    members = models.ManyToManyField("telephony.Extension", blank=True, related_name="shared_mailboxes")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MailboxQuerySet.as_manager()

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} {self.name}".strip()

    @property
    def shared(self) -> bool:
        return self.extension_id is None

    def greeting(self, kind: str) -> Path | None:
        """The absolute path of the box's `kind` greeting (unavailable, busy, name), None without one."""
        relative = getattr(self, f"greeting_{kind}")
        return voicemail_dir() / relative if relative else None

    def has_greeting(self, kind: str) -> bool:
        return bool(getattr(self, f"greeting_{kind}"))


def box_directory(client_id: int, box_id: int) -> Path:
    """OCX_VOICEMAIL_DIR/<client id>/<box id>: the box's greetings and messages."""
    return voicemail_dir() / str(client_id) / str(box_id)


class MessageQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """The messages of the boxes the actor sees (their own, the shared ones they are a member of)."""
        if actor.role == Role.CLIENT:
            return self.all()
        if actor.role == Role.USER:
            return self.filter(mailbox__in=Mailbox.objects.restrict(actor))
        return self.none()


class Message(models.Model):
    """A message a caller left in a box: who, when, how long, and where it is filed."""

    NEW, SAVED = "new", "saved"  # the folders every box has; any other name is a folder of the user's

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="messages")
    caller_number = models.CharField(max_length=32, blank=True)
    caller_name = models.CharField(max_length=100, blank=True)
    call_uuid = models.UUIDField(null=True, blank=True, help_text="The call (records.Cdr.call_uuid) that left it.")
    received_at = models.DateTimeField()
    seconds = models.FloatField()
    folder = models.CharField(max_length=40, default=NEW, validators=[folder_name])
    heard = models.BooleanField(default=False)
    # The WAV file, relative to OCX_VOICEMAIL_DIR; unique, so that writing the row again (the engine
    # retrying after the database was away) never makes a second message.
    file = models.CharField(max_length=255, unique=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["mailbox", "heard"])]

    def __str__(self) -> str:
        return f"{self.caller_number or 'unknown'} at {self.received_at:%Y-%m-%d %H:%M}"

    @property
    def path(self) -> Path:
        return voicemail_dir() / self.file


class Options(models.Model):
    """The client's voicemail options, one row (none yet: the defaults): what holds for every box."""

    unsolicited_mwi = models.BooleanField(
        default=False,
        help_text="Light the message-waiting lamp of phones that do not subscribe to it (unsolicited NOTIFY "
        "to the registered phones of a user's box).",
    )

    def __str__(self) -> str:
        return "voicemail options"

    @classmethod
    def current(cls) -> Options:
        """The client's options (client schema), unsaved defaults when it has none."""
        return cls.objects.first() or cls()
