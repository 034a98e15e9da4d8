"""Conference rooms, stored in the client's own schema: each belongs to a moderator (a user of the
client) and is reached by its conference ID (dial *88, or *88<id>) or by an access number of its own.
The running conference lives in a call engine (telephony/engine/conference.py); its joins and leaves
are call records (records.Cdr, service "conference")."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Role
from tenants.scoping import RestrictedQuerySet

conference_id = RegexValidator(r"^[0-9]{4,9}$", _("A conference ID is 4 to 9 digits."))
pin = RegexValidator(r"^[0-9]{4,8}$", _("A PIN is 4 to 8 digits."))
short_number = RegexValidator(r"^[0-9]{2,4}$", _("2 to 4 digits, like an extension number."))


class RoomQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """The schema holds one client: its operators see every room, a moderator their own."""
        if actor.role == Role.CLIENT:
            return self.all()
        if actor.role == Role.USER:
            return self.filter(moderator_id=actor.pk)
        return self.none()


class Room(models.Model):
    class Recurrence(models.TextChoices):
        NONE = "", _("Once")
        DAILY = "daily", _("Every day")
        WEEKDAYS = "weekdays", _("Every weekday")
        WEEKLY = "weekly", _("Every week")

    # The moderator's account lives in the public schema: no cascade across schemas.
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False,
                                  related_name="+")  # fmt: skip
    name = models.CharField(max_length=100)
    conference_id = models.CharField(max_length=9, unique=True, validators=[conference_id])
    participant_pin = models.CharField(max_length=8, validators=[pin])
    moderator_pin = models.CharField(max_length=8, validators=[pin])
    access_number = models.CharField(max_length=4, blank=True, validators=[short_number],
                                     help_text=_("Dialled like an extension, it asks only for the PIN."))  # fmt: skip
    # Schedule: empty start means always open; with a start, open from 10 minutes before each
    # occurrence until its end (or start + max_minutes).
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    recurrence = models.CharField(max_length=10, choices=Recurrence.choices, blank=True, default="")
    max_participants = models.PositiveIntegerField(default=50, validators=[MinValueValidator(2),
                                                                           MaxValueValidator(500)])  # fmt: skip
    max_minutes = models.PositiveIntegerField(default=240, validators=[MinValueValidator(1), MaxValueValidator(1440)])
    entry_tone = models.BooleanField(default=True, help_text=_("A tone when someone joins or leaves."))
    wait_for_moderator = models.BooleanField(
        default=False, help_text=_("Participants hear music until the moderator joins.")
    )
    end_with_moderator = models.BooleanField(
        default=False, help_text=_("The conference ends when the moderator leaves.")
    )
    record = models.BooleanField(default=False, help_text=_("Record the conference from its start."))
    # A "hot" (emergency) conference: triggered from the portal, the API or by dialling the trigger
    # number, the engine calls every number of the list at once; each answered call joins.
    hot_numbers = models.TextField(blank=True, help_text=_("Numbers called when the conference is triggered."))
    hot_retries = models.PositiveSmallIntegerField(
        default=2, validators=[MaxValueValidator(10)], help_text=_("Further attempts for a number that did not join.")
    )
    hot_retry_seconds = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(3600)]
    )
    trigger_number = models.CharField(
        max_length=4,
        blank=True,
        validators=[short_number],
        help_text=_("Dialled like an extension: triggers the call-out."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["name", "conference_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["access_number"], condition=~models.Q(access_number=""), name="room_access_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.conference_id})"

    @property
    def hot_list(self) -> list[str]:
        return numbers_of(self.hot_numbers)


def numbers_of(text: str) -> list[str]:
    """The numbers of a list typed one a line (or separated by commas or spaces), in order, once each."""
    return list(dict.fromkeys(text.replace(",", " ").split()))  # (a dict: linear in a list of 100,000)


class OwnedQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """The schema holds one client: its operators see every row, a user the rows they made."""
        if actor.role == Role.CLIENT:
            return self.all()
        if actor.role == Role.USER:
            return self.filter(created_by_id=actor.pk)
        return self.none()


class Message(models.Model):
    """A prerecorded message of the company's library (mass notification, announcements): uploaded
    (any audio file, stored as 8 kHz mono WAV) or recorded by phone (dial *89<id>)."""

    name = models.CharField(max_length=100)
    seconds = models.FloatField(default=0)
    recorded = models.BooleanField(default=False, help_text=_("There is audio (uploaded or recorded by phone)."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    """A mass notification: call every number of a list, play a message, ask for a key to confirm,
    call again who did not confirm; one target row per number tells how it went."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")

    name = models.CharField(max_length=100)
    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="campaigns")
    confirm_digit = models.CharField(
        max_length=1, default="1", validators=[RegexValidator(r"^[0-9]$", _("One digit."))]
    )
    retries = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(10)])
    retry_seconds = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(5), MaxValueValidator(86400)]
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Target(models.Model):
    """One number of a campaign and its outcome."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        CALLING = "calling", _("Calling")
        CONFIRMED = "confirmed", _("Confirmed")
        ANSWERED = "answered", _("Answered, not confirmed")
        NO_ANSWER = "no-answer", _("No answer")
        BUSY = "busy", _("Busy")
        FAILED = "failed", _("Failed")
        REFUSED = "refused", _("Not called: refused")  # the company may not call it (not retried)

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="targets")
    number = models.CharField(max_length=32)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_called_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cause = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "number"], name="target_once_per_campaign")]

    def __str__(self) -> str:
        return f"{self.number} ({self.state})"
