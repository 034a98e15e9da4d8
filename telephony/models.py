"""Per-client telephony, stored in the client's own schema."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Role
from tenants.scoping import RestrictedQuerySet

extension_number = RegexValidator(r"^[0-9]{2,4}$", _("An extension is 2 to 4 digits."))
sip_username = RegexValidator(r"^[a-zA-Z0-9._-]{2,64}$", _("Use 2 to 64 letters, digits, dots, dashes or underscores."))


class ExtensionQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """The schema already holds one client only; employees see just their own line."""
        if actor.role == Role.CLIENT:
            return self.all()
        if actor.role == Role.USER:
            return self.filter(account_id=actor.pk)
        return self.none()


class Extension(models.Model):
    """An employee's line: extension number, caller name and SIP credentials (digest hashes only)."""

    # The account lives in the public schema; Django must not cascade across schemas, so the
    # services delete both sides explicitly.
    account = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, related_name="extension")
    number = models.CharField(max_length=4, unique=True, validators=[extension_number])
    display_name = models.CharField(max_length=100)
    sip_username = models.CharField(max_length=64, unique=True, validators=[sip_username])
    # HA1 = H(username:realm:secret), realm = the client's SIP domain (RFC 7616).
    ha1_md5 = models.CharField(max_length=32)
    ha1_sha256 = models.CharField(max_length=64)
    secret_changed_at = models.DateTimeField()
    # What the client's operators grant a line beyond its own calls.
    may_intercept = models.BooleanField(
        default=False, help_text=_("May pick up colleagues' ringing calls (*8, **ext).")
    )
    may_barge = models.BooleanField(default=False, help_text=_("May barge in on, monitor and whisper into calls."))
    supervision_exempt = models.BooleanField(
        default=False, help_text=_("Nobody may monitor, whisper into or barge into this line's calls.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ExtensionQuerySet.as_manager()

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} {self.display_name}"


class ScheduleQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """A client's schedules are its operators' business (the schema holds one client only)."""
        return self.all() if actor.role == Role.CLIENT else self.none()


class Schedule(models.Model):
    """A client's office hours and holidays (telephony/schedules.py says how they are written), in the
    client's time zone; numbers point at one to go elsewhere while it says closed."""

    name = models.CharField(max_length=60, unique=True)
    hours = models.TextField(blank=True, help_text=_("Lines such as: mon-fri 09:00-12:30, 13:30-17:00"))
    holidays = models.TextField(blank=True, help_text=_("Closed dates, one a line: 2026-12-25 Christmas"))
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ForwardingQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """The client's operators see every user's; a user their own."""
        if actor.role == Role.CLIENT:
            return self.all()
        if actor.role == Role.USER:
            return self.filter(extension__account_id=actor.pk)
        return self.none()


class Forwarding(models.Model):
    """How a user's calls are handled beyond ringing their devices: do-not-disturb, forwarding (each a
    destination, telephony/destinations.py: a kind and a target) and find-me. A line without a row
    rings its devices only. The engine reads it with the dial plan (telephony/engine/applications/
    forwarding.py); the services that save it announce the change."""

    extension = models.OneToOneField(Extension, on_delete=models.CASCADE, related_name="forwarding")
    dnd = models.BooleanField(_("Do not disturb"), default=False,
                              help_text=_("Calls go where busy forwarding says, or get busy."))  # fmt: skip
    always_kind = models.CharField(max_length=20, blank=True)
    always_target = models.CharField(max_length=100, blank=True)
    busy_kind = models.CharField(max_length=20, blank=True)
    busy_target = models.CharField(max_length=100, blank=True)
    no_answer_kind = models.CharField(max_length=20, blank=True)
    no_answer_target = models.CharField(max_length=100, blank=True)
    no_answer_after = models.PositiveSmallIntegerField(default=20, help_text=_("Seconds of ringing (5 to 120)."))
    unreachable_kind = models.CharField(max_length=20, blank=True)
    unreachable_target = models.CharField(max_length=100, blank=True)
    find_me = models.CharField(max_length=16, blank=True,
                               help_text=_("An external number (E.164) that rings with the desk phone."))  # fmt: skip
    find_me_confirm = models.BooleanField(
        default=True, help_text=_("The external number must press 1 to take the call.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ForwardingQuerySet.as_manager()

    def __str__(self) -> str:
        return f"forwarding of {self.extension_id}"


class BlockQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """A client's blocking lists are its operators' business (the schema holds one client only)."""
        return self.all() if actor.role == Role.CLIENT else self.none()


class Block(models.Model):
    """An entry of a client's blocking lists (telephony/blocking.py): a caller from the phone network
    it refuses (a number, a prefix, or every anonymous caller), or a number or prefix its own users
    may not call (on top of the brand's outbound policy; emergency numbers are never blocked)."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", _("Blocked caller")
        OUTBOUND = "outbound", _("Blocked destination")

    class Kind(models.TextChoices):
        NUMBER = "number", _("Number")
        PREFIX = "prefix", _("Prefix")
        ANONYMOUS = "anonymous", _("Anonymous callers")

    direction = models.CharField(max_length=8, choices=Direction.choices)
    kind = models.CharField(max_length=9, choices=Kind.choices)
    value = models.CharField(max_length=16, blank=True, help_text=_("E.164: a whole number or its first digits; "
                             "empty for anonymous callers."))  # fmt: skip
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = BlockQuerySet.as_manager()

    class Meta:
        ordering = ["direction", "value", "kind"]
        constraints = [models.UniqueConstraint(fields=["direction", "kind", "value"], name="block_once_per_list")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()}: {self.value or self.get_kind_display()}"


class CallerBlockingQuerySet(BlockQuerySet):
    pass


class CallerBlocking(models.Model):
    """What a client does with a blocked caller's call (one row per client; none: declined)."""

    class Action(models.TextChoices):
        DECLINE = "decline", _("Decline (603)")
        FORBIDDEN = "forbidden", _("Refuse (403 Forbidden)")
        MESSAGE = "message", _("Answer, say the call is not accepted, hang up")

    action = models.CharField(max_length=9, choices=Action.choices, default=Action.DECLINE)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CallerBlockingQuerySet.as_manager()

    def __str__(self) -> str:
        return f"blocked callers: {self.action}"


class PromptQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """A client's own prompts are its operators' business (the schema holds one client only)."""
        return self.all() if actor.role == Role.CLIENT else self.none()


class Prompt(models.Model):
    """A client's own recording of one of the platform's prompts (telephony/media/prompts.py TEXTS),
    played to its callers instead of the platform's: 8 kHz mono WAV under OCX_MESSAGES_DIR."""

    name = models.CharField(max_length=40, unique=True, help_text="The platform prompt it replaces.")
    seconds = models.FloatField(default=0)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False,
                                    related_name="+")  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    objects = PromptQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def version(self) -> str:
        """Changes with each upload: the engines' key for the file they read."""
        return f"{self.pk}-{self.updated_at.timestamp():.6f}"


class WidgetQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """A client's click-to-call widgets are its operators' business (the schema holds one client only)."""
        return self.all() if actor.role == Role.CLIENT else self.none()


class Widget(models.Model):
    """A click-to-call button on the client's own web site (telephony/widgets.py): a visitor types their
    number, the platform rings the destination (a user), then calls the visitor and joins them."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    destination_kind = models.CharField(max_length=20, default="user")
    destination_target = models.CharField(max_length=100)
    # The web sites allowed to use it: exact origins (scheme, host, port), one a line.
    origins = models.TextField(_("allowed origins"), blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    key = models.CharField(max_length=40, unique=True)  # public: in the embed snippet
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WidgetQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def origin_list(self) -> list[str]:
        return [line.strip() for line in self.origins.splitlines() if line.strip()]
