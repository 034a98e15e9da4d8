"""Call recording in the client's schema: the client's policy (one row), a user's own choice where the
client lets users choose, and one row per recording (a two-party call's, or a conference's) with its
file under OCX_RECORDINGS_DIR.

The policy is a singleton of the client's schema (like telephony.CallerBlocking) rather than fields of
tenants.Client: it is the client's private configuration, the engine reads it with the client's dial
plan (one query per plan load, none per call), and the public schema stays what brands and the
operator aggregate over.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from telephony.models import Extension
from tenants.models import Role
from tenants.scoping import RestrictedQuerySet


class Mode(models.TextChoices):
    NEVER = "never", _("Never")
    ALWAYS = "always", _("Always")
    ON_DEMAND = "on_demand", _("On demand (*1 during the call, or the API)")


class PolicyQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        return self.all() if actor.role == Role.CLIENT else self.none()


class RecordingPolicy(models.Model):
    """How a client records its calls (one row per client, pk 1; none yet: never recorded)."""

    mode = models.CharField(max_length=9, choices=Mode.choices, default=Mode.NEVER)
    announce = models.BooleanField(default=False, help_text=_("Both parties hear \"this call is recorded\" when "
                                                              "recording starts."))  # fmt: skip
    users_choose = models.BooleanField(default=False, help_text=_("Users may choose for their own calls."))
    users_listen = models.BooleanField(default=False, help_text=_("Users may hear their own calls' recordings."))
    retention_days = models.PositiveIntegerField(default=90, help_text=_("Recordings are removed after this many "
                                                                        "days (1 to 3650)."))  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    objects = PolicyQuerySet.as_manager()

    def __str__(self) -> str:
        return f"recording: {self.mode}"


class LineChoice(models.TextChoices):
    CLIENT = "client", _("As the company chose")
    ALWAYS = "always", _("Always")
    NEVER = "never", _("Never")
    ON_DEMAND = "on_demand", _("On demand")


class LineRecording(models.Model):
    """A user's own choice for their line's calls, used only while the client lets users choose
    (no row: as the company chose)."""

    extension = models.OneToOneField(Extension, on_delete=models.CASCADE, related_name="recording_choice")
    mode = models.CharField(max_length=9, choices=LineChoice.choices, default=LineChoice.CLIENT)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.extension_id}: {self.mode}"


class RecordingQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """The schema holds one client: its operators hear every recording; a user those of their own
        calls, only while the client lets users listen."""
        if actor.role == Role.CLIENT:
            return self.all()
        if actor.role == Role.USER and RecordingPolicy.objects.filter(pk=1, users_listen=True).exists():
            return self.filter(accounts__contains=[actor.pk])
        return self.none()

    def finished(self):
        return self.filter(ended_at__isnull=False)


class Recording(models.Model):
    """One recording: a two-party call's (caller on the left channel, callee on the right) or a
    conference's mix; `file` is relative to OCX_RECORDINGS_DIR; no `ended_at` while it is written."""

    class Kind(models.TextChoices):
        CALL = "call", _("Call")
        CONFERENCE = "conference", _("Conference")

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CALL)
    call_uuid = models.UUIDField(null=True, blank=True, db_index=True, help_text="The call's record (records.Cdr).")
    conference = models.CharField(max_length=20, blank=True, help_text="The conference ID (a conference's).")
    caller = models.CharField(max_length=64, blank=True)
    callee = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0)
    file = models.CharField(max_length=300)
    accounts = ArrayField(models.IntegerField(), default=list, blank=True,
                          help_text="The users whose call it is (who may hear it, if the client allows).")  # fmt: skip
    engine = models.CharField(max_length=64, blank=True)

    objects = RecordingQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"recording {self.pk} ({self.kind})"
