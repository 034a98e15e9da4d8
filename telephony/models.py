"""Per-client telephony, stored in the client's own schema."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from tenants.models import Role
from tenants.scoping import RestrictedQuerySet

extension_number = RegexValidator(r"^[0-9]{2,4}$", "An extension is 2 to 4 digits.")
sip_username = RegexValidator(r"^[a-zA-Z0-9._-]{2,64}$", "Use 2 to 64 letters, digits, dots, dashes or underscores.")


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
    may_intercept = models.BooleanField(default=False, help_text="May pick up colleagues' ringing calls (*8, **ext).")
    may_barge = models.BooleanField(default=False, help_text="May barge in on, monitor and whisper into calls.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ExtensionQuerySet.as_manager()

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} {self.display_name}"
