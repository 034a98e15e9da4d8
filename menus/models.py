"""Voice menus (IVR), in the client's own schema. A menu is a destination (kind "menu", target its
id) that numbers, forwarding, schedules' closed branch and other menus' keys point at: the engine
answers, plays its greeting and sends the caller where the key pressed says
(telephony/engine/applications/menus.py)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Role
from tenants.scoping import RestrictedQuerySet

KEYS = tuple("0123456789*#")
MAX_TIMEOUT = 60
MAX_RETRIES = 5


class MenuQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """A client's menus are its operators' business (the schema holds one client only)."""
        return self.all() if actor.role == Role.CLIENT else self.none()


class Menu(models.Model):
    """A voice menu: a greeting, keys that lead to destinations, and where silence or a wrong key
    leads once the greeting was said `1 + retries` times."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    # The greeting: a message of the client's library (uploaded or recorded by phone), else one of the
    # platform's prompts by name (the client's own recording of it when it has one), else none.
    greeting_message = models.ForeignKey("conferencing.Message", on_delete=models.SET_NULL, null=True, blank=True,
                                         related_name="+", verbose_name=_("greeting message"))  # fmt: skip
    greeting_prompt = models.CharField(_("greeting prompt"), max_length=40, blank=True)
    direct_dial = models.BooleanField(_("direct dialing"), default=False,
                                      help_text=_("Callers may dial an extension of the company."))  # fmt: skip
    timeout = models.PositiveSmallIntegerField(
        _("timeout"),
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TIMEOUT)],
        help_text=_("Seconds to wait for a key after the greeting (1 to 60)."),
    )
    retries = models.PositiveSmallIntegerField(
        _("retries"),
        default=2,
        validators=[MaxValueValidator(MAX_RETRIES)],
        help_text=_("How many times the greeting is said again after silence or a wrong key (0 to 5)."),
    )
    # Where silence and a wrong key lead once the retries are spent; empty kind: goodbye, hang up.
    timeout_kind = models.CharField(max_length=20, blank=True)
    timeout_target = models.CharField(max_length=100, blank=True)
    invalid_kind = models.CharField(max_length=20, blank=True)
    invalid_target = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MenuQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Option(models.Model):
    """A key of a menu and the destination it leads to (any kind, another menu included)."""

    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="options")
    key = models.CharField(_("key"), max_length=1, choices=[(k, k) for k in KEYS])
    destination_kind = models.CharField(max_length=20)
    destination_target = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["menu", "key"]
        constraints = [models.UniqueConstraint(fields=["menu", "key"], name="menu_key_once")]

    def __str__(self) -> str:
        return f"{self.menu_id} {self.key}"


class RuleSetQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """A client's rule sets are its operators' business (the schema holds one client only)."""
        return self.all() if actor.role == Role.CLIENT else self.none()


class RuleSet(models.Model):
    """Call routing by conditions: rules tried in order (the first whose conditions all hold sends the
    call to its destination), else the default destination. A destination (kind "route", target its
    id) like a menu; menus/routing.py says what a rule's conditions are."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    # Where a call no rule matches goes; empty kind: nowhere (the caller hears the call refused).
    default_kind = models.CharField(max_length=20, blank=True)
    default_target = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RuleSetQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Rule(models.Model):
    """One rule of a rule set: conditions that must all hold (an empty one holds always, one at least is
    set) and where the call goes then."""

    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveSmallIntegerField()
    # Patterns (menus/routing.py): the caller's number matches one of `callers`, the number or extension
    # the call came in on one of `dialled`.
    callers = models.JSONField(default=list, blank=True)
    dialled = models.JSONField(default=list, blank=True)
    # A schedule of the client (telephony.Schedule's id) that must say open (when_open) or closed.
    schedule = models.PositiveIntegerField(null=True, blank=True)
    when_open = models.BooleanField(default=True)
    destination_kind = models.CharField(max_length=20)
    destination_target = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["rule_set", "position"]

    def __str__(self) -> str:
        return f"{self.rule_set_id} {self.position}"
