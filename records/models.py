"""Call detail records, in the public schema so brand and platform reports aggregate across clients
with one indexed query (ARCHITECTURE.md). The engine writes them (records/writer.py, through its
spool on local disk, records/spool.py); billing rates them, exports and the conference reports read
them (records/selectors.py)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Role
from tenants.scoping import ProviderScopedQuerySet


class StartedWithin(ProviderScopedQuerySet):
    """Call rows (records, ratings) of a period: started at `since` or later and before `until`;
    an open end (None) does not narrow."""

    def started_within(self, since=None, until=None):
        rows = self
        if since is not None:
            rows = rows.filter(started_at__gte=since)
        if until is not None:
            rows = rows.filter(started_at__lt=until)
        return rows


class CdrQuerySet(StartedWithin):
    def restrict(self, actor):
        """As ProviderScopedQuerySet; and a user: the calls they placed, were called by, talked in
        (a transfer, pickup or retrieve put them in it) or listened in on."""
        if actor.role == Role.USER:
            return self.filter(client_id=actor.client_id).filter(
                models.Q(account_id=actor.pk)
                | models.Q(callee_account_id=actor.pk)
                | models.Q(segments__contains=[{"caller_account": actor.pk}])
                | models.Q(segments__contains=[{"callee_account": actor.pk}])
                | models.Q(supervisions__contains=[{"supervisor_account": actor.pk}])
            )
        return super().restrict(actor)

    def active(self):
        return self.filter(ended_at__isnull=True)


class Cdr(models.Model):
    """One call. Written when the call starts (so a call in progress already has its row), updated
    when it is answered and when it ends; `legs` keeps the detail of each leg."""

    class Disposition(models.TextChoices):
        IN_PROGRESS = "in-progress", _("In progress")
        ANSWERED = "answered", _("Answered")
        BUSY = "busy", _("Busy")
        NO_ANSWER = "no-answer", _("No answer")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    class Direction(models.TextChoices):
        INTERNAL = "internal", _("Internal")
        INBOUND = "inbound", _("Inbound")  # (conferences: dial-in)
        OUTBOUND = "outbound", _("Outbound")  # (conferences: dial-out)

    class Service(models.TextChoices):
        CALL = "call", _("Call")
        CONFERENCE = "conference", _("Conference")
        NOTIFICATION = "notification", _("Notification")
        CHAT = "chat", _("Chat")  # a web chat's end (chat/): never rated

    # History outlives the rows it names (a hard-deleted client keeps its calls): ids without constraints.
    brand = models.ForeignKey("tenants.Brand", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    client = models.ForeignKey("tenants.Client", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    account = models.ForeignKey("tenants.User", on_delete=models.DO_NOTHING, db_constraint=False, null=True,
                                related_name="+", help_text="The user who placed the call, when one did.")  # fmt: skip
    callee_account = models.ForeignKey(
        "tenants.User",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
        help_text="The user called, if one was.",
    )
    call_uuid = models.UUIDField(unique=True)
    service = models.CharField(max_length=12, choices=Service.choices, default=Service.CALL, db_default=Service.CALL)
    # A conference participant's record: called at = started_at, joined at = answered_at,
    # disconnected at = ended_at; the room's conference ID and its moderator.
    conference = models.CharField(max_length=9, blank=True, default="", db_default="")
    moderator = models.ForeignKey("tenants.User", on_delete=models.DO_NOTHING, db_constraint=False, null=True,
                                  blank=True, related_name="+")  # fmt: skip
    engine = models.CharField(max_length=100)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    disposition = models.CharField(max_length=12, choices=Disposition.choices, default=Disposition.IN_PROGRESS)
    caller_number = models.CharField(max_length=64)
    caller_name = models.CharField(max_length=100, blank=True)
    callee_number = models.CharField(max_length=64)
    callee_name = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration = models.PositiveIntegerField(default=0, help_text="Seconds from start to end.")
    billsec = models.PositiveIntegerField(default=0, help_text="Seconds from answer to end.")
    carrier = models.ForeignKey("billing.Carrier", null=True, blank=True, on_delete=models.DO_NOTHING,
                                db_constraint=False, related_name="+",
                                help_text="The carrier of a call to or from the phone network.")  # fmt: skip
    hangup_cause = models.CharField(max_length=40, blank=True, help_text="SIP status or reason, e.g. 486, bye.")
    hangup_side = models.CharField(max_length=10, blank=True, help_text="caller, callee or engine")
    quality = models.JSONField(default=dict, blank=True, help_text="RTP figures per leg (loss, jitter).")
    legs = models.JSONField(default=list, blank=True)
    # Who actually talked (issue 12): the callee number above is who was dialled; the line that answered
    # may be another (a pickup), and transfers, park and retrieve change the parties during the call.
    answered_by = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text="The line that answered: the callee, or the line that picked the call up.",
    )
    segments = models.JSONField(
        default=list, blank=True, db_default=models.Value([], models.JSONField()),
        help_text="Who talked with whom, in order: caller and callee numbers (and accounts) on each side, began_at, "
        "ended_at, seconds, and why the segment began (answer, pickup, transfer, attended-transfer, park, retrieve); "
        "a parked segment has one side empty.",
    )  # fmt: skip
    supervisions = models.JSONField(
        default=list, blank=True, db_default=models.Value([], models.JSONField()),
        help_text="Who listened in: supervisor number and account, mode (monitor, whisper, barge), the agent side and "
        "its number, began_at, ended_at, seconds.",
    )  # fmt: skip

    objects = CdrQuerySet.as_manager()

    class Meta:
        db_table = "billing_cdr"  # the model moved here from billing (issue 13); its rows did not
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["client", "started_at"], name="cdr_client_started"),
            models.Index(fields=["brand", "started_at"], name="cdr_brand_started"),
            models.Index(fields=["started_at"], name="cdr_started"),  # the platform's day (tenants/figures.py)
            models.Index(fields=["engine"], name="cdr_open_by_engine", condition=models.Q(ended_at__isnull=True)),
            # Pushes and exports select calls by when they finished (exports/push.py).
            models.Index(
                fields=["brand", "ended_at"], name="cdr_brand_ended", condition=models.Q(ended_at__isnull=False)
            ),
            models.Index(
                fields=["client", "ended_at"], name="cdr_client_ended", condition=models.Q(ended_at__isnull=False)
            ),
            # Queue statistics read a client's queue calls of some days only (queues/stats.py).
            models.Index(
                fields=["client", "started_at"],
                name="cdr_client_queue_started",
                condition=models.Q(legs__contains=[{"leg": "queue"}]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.caller_number} -> {self.callee_number} ({self.disposition})"
