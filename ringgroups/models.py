"""Ring groups, in the client's own schema. A group is a destination (kind "group", target its id)
that numbers, forwarding, schedules' closed branch and menus' keys point at: the engine rings its
members (telephony/engine/applications/ringgroups.py) as the strategy says, and the first to answer
takes the call; when none does, the call goes to the group's no-answer destination."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Role
from tenants.scoping import RestrictedQuerySet

MIN_RING_TIME, MAX_RING_TIME = 1, 120
MAX_MEMBERS = 30


class RingGroupQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """A client's ring groups are its operators' business (the schema holds one client only)."""
        return self.all() if actor.role == Role.CLIENT else self.none()


class RingGroup(models.Model):
    """A group of people (colleagues' extensions, external numbers) that one call rings, all at once
    or one after the other, with where the call goes when nobody answers."""

    class Strategy(models.TextChoices):
        SIMULTANEOUS = "simultaneous", _("All at once")
        IN_ORDER = "in_order", _("One after the other")
        ROTATING = "rotating", _("One after the other, starting after the last one started")

    name = models.CharField(_("name"), max_length=60, unique=True)
    strategy = models.CharField(_("strategy"), max_length=20, choices=Strategy.choices, default=Strategy.SIMULTANEOUS)
    ring_time = models.PositiveSmallIntegerField(
        _("ring time"),
        default=20,
        validators=[MinValueValidator(MIN_RING_TIME), MaxValueValidator(MAX_RING_TIME)],
        help_text=_("Seconds each member rings (1 to 120); all at once: the seconds they ring together."),
    )
    # Where the call goes when no member answers; empty kind: the caller is told nobody is available.
    no_answer_kind = models.CharField(max_length=20, blank=True)
    no_answer_target = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RingGroupQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """One member of a group, in the group's order: a user (their devices ring, not their forwarding)
    or an external number (called through the client's carriers and outbound policy)."""

    class Kind(models.TextChoices):
        USER = "user", _("A user (their devices)")
        EXTERNAL = "external", _("An external number")

    group = models.ForeignKey(RingGroup, on_delete=models.CASCADE, related_name="members")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    target = models.CharField(_("target"), max_length=100)

    class Meta:
        ordering = ["group", "position"]
        constraints = [models.UniqueConstraint(fields=["group", "position"], name="ring_group_position_once")]

    def __str__(self) -> str:
        return f"{self.group_id} {self.position} {self.kind}:{self.target}"
