"""Call queues (ACD), in the client's own schema. A queue is a destination (kind "queue", target its
id; optionally also dialled by its own extension-like number): callers wait, hearing music and their
position, while the engine offers them to the queue's logged-in, unpaused agents as its strategy says
(telephony/engine/applications/queues.py). What changes every second (who is free, who waits) is in
Redis (queues/state.py); what must survive Redis (logged in, paused) is here too."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from telephony.models import extension_number
from tenants.models import Role
from tenants.scoping import RestrictedQuerySet


class Strategy(models.TextChoices):
    RING_ALL = "ring_all", _("Ring all available agents at once")
    LONGEST_IDLE = "longest_idle", _("The agent idle longest")
    FEWEST_CALLS = "fewest_calls", _("The agent with the fewest calls")
    LEAST_TALK = "least_talk", _("The agent with the least talk time")
    RANDOM = "random", _("A random agent")
    IN_ORDER = "in_order", _("In the members' order")


class QueueQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """A client's queues are its operators' business (the schema holds one client only)."""
        return self.all() if actor.role == Role.CLIENT else self.none()


class Queue(models.Model):
    """A call queue: its strategy, its timings and where callers go when it is too long or too slow."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    number = models.CharField(
        _("number"),
        max_length=4,
        blank=True,
        validators=[extension_number],
        help_text=_("Optional: colleagues dial it like an extension (2 to 4 digits)."),
    )
    strategy = models.CharField(_("strategy"), max_length=20, choices=Strategy.choices, default=Strategy.RING_ALL)
    ring_seconds = models.PositiveSmallIntegerField(
        _("ring seconds"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text=_("How long an agent's phones ring for one offer (1 to 120)."),
    )
    wrapup_seconds = models.PositiveSmallIntegerField(
        _("wrap-up seconds"),
        default=0,
        validators=[MaxValueValidator(3600)],
        help_text=_("Time an agent gets after a call before the next one (0 to 3600)."),
    )
    max_wait_seconds = models.PositiveIntegerField(
        _("maximum wait"),
        default=0,
        validators=[MaxValueValidator(86400)],
        help_text=_("Seconds a caller waits at most before going to the destination below (0: no limit)."),
    )
    max_wait_kind = models.CharField(max_length=20, blank=True)
    max_wait_target = models.CharField(max_length=100, blank=True)
    max_callers = models.PositiveIntegerField(
        _("maximum waiting callers"),
        default=0,
        validators=[MaxValueValidator(10000)],
        help_text=_("Callers beyond this many go at once to the destination below (0: no limit)."),
    )
    full_kind = models.CharField(max_length=20, blank=True)
    full_target = models.CharField(max_length=100, blank=True)
    announce_every = models.PositiveSmallIntegerField(
        _("announce position every"),
        default=0,
        validators=[MaxValueValidator(3600)],
        help_text=_("Seconds between announcements of the caller's position and estimated wait (0: never)."),
    )
    pause_after_missed = models.PositiveSmallIntegerField(
        _("pause after missed offers"),
        default=0,
        validators=[MaxValueValidator(100)],
        help_text=_("Missed offers in a row after which an agent is paused (0: never)."),
    )
    sticky_minutes = models.PositiveSmallIntegerField(
        _("sticky agent minutes"),
        default=0,
        validators=[MaxValueValidator(1440)],
        help_text=_("A caller is offered the agent they last spoke to within this many minutes (0: off)."),
    )
    service_level_seconds = models.PositiveSmallIntegerField(
        _("service level seconds"),
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(3600)],
        help_text=_("A call answered within this many seconds of waiting counts as served in time (1 to 3600)."),
    )
    missed_call_emails = models.CharField(
        _("missed-call e-mail"),
        max_length=500,
        blank=True,
        help_text=_("Addresses (comma-separated) told of each caller who hangs up or times out while waiting."),
    )
    callback_key = models.CharField(
        _("callback key"),
        max_length=1,
        blank=True,
        choices=[(str(d), str(d)) for d in range(10)],
        help_text=_("The key a waiting caller presses to hang up and be called back in their turn (empty: off)."),
    )
    callback_retries = models.PositiveSmallIntegerField(
        _("callback retries"),
        default=2,
        validators=[MaxValueValidator(10)],
        help_text=_("Times a callback the caller does not answer is tried again (0 to 10)."),
    )
    callback_retry_seconds = models.PositiveIntegerField(
        _("seconds between callback tries"),
        default=60,
        validators=[MaxValueValidator(3600)],
        help_text=_("Seconds before an unanswered callback is tried again (0 to 3600)."),
    )
    rating = models.BooleanField(
        _("after-call rating"),
        default=False,
        help_text=_("Once the agent hangs up, the caller is asked to rate the call with a key from 1 to 5."),
    )
    supervision_tone = models.BooleanField(
        _("supervision tone"),
        default=False,
        help_text=_("The agent hears a short tone when a supervisor starts listening to their call."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = QueueQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """A user (by their line) who answers a queue's callers: their tier (penalty: the lowest tier with
    an available agent is offered first), their place for the in-order strategy, and whether they are
    logged in to this queue."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="members")
    extension = models.ForeignKey("telephony.Extension", on_delete=models.CASCADE, related_name="queue_memberships")
    penalty = models.PositiveSmallIntegerField(_("penalty"), default=0, validators=[MaxValueValidator(99)])
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    logged_in = models.BooleanField(_("logged in"), default=False)

    class Meta:
        ordering = ["queue", "penalty", "order", "extension__number"]
        constraints = [models.UniqueConstraint(fields=["queue", "extension"], name="queue_member_once")]

    def __str__(self) -> str:
        return f"{self.queue_id} {self.extension_id}"


class Supervisor(models.Model):
    """A user (by their line) who sees a queue's agents' live calls and may monitor, whisper to or
    barge into them (from the portal and the API, their line ringing first)."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="supervisors")
    extension = models.ForeignKey("telephony.Extension", on_delete=models.CASCADE, related_name="queue_supervisions")

    class Meta:
        ordering = ["queue", "extension__number"]
        constraints = [models.UniqueConstraint(fields=["queue", "extension"], name="queue_supervisor_once")]

    def __str__(self) -> str:
        return f"{self.queue_id} supervised by {self.extension_id}"


class Agent(models.Model):
    """A user's state as an agent across all their queues that must survive Redis: paused, and why."""

    extension = models.OneToOneField("telephony.Extension", on_delete=models.CASCADE, related_name="agent")
    paused = models.BooleanField(default=False)
    pause_reason = models.CharField(max_length=60, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # Chats are calls' siblings: an agent answers up to chat_limit chats at once (0: no chats), and is
    # offered none while on a call, nor a call while in a chat, unless chats_during_calls.
    chat_limit = models.PositiveSmallIntegerField(_("chats at once"), default=2, validators=[MaxValueValidator(20)])
    chats_during_calls = models.BooleanField(_("chats during calls"), default=False)

    def __str__(self) -> str:
        return f"agent {self.extension_id}"
