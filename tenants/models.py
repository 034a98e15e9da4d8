"""The four-level hierarchy in the public schema: brands, clients (one schema each), accounts."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin
from django_tenants.utils import schema_exists

from tenants.scoping import BrandScopedQuerySet, RestrictedQuerySet

hex_colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Enter a colour as #rrggbb."))
# Dashes become underscores in the schema name, so underscores are not allowed (a-b and a_b would collide).
client_slug = RegexValidator(
    r"^[a-z0-9]+(-[a-z0-9]+)*$", _("Use lower-case letters, digits and single dashes, such as acme-london.")
)
hostname = RegexValidator(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
    _("Enter a lower-case host name such as pbx.example.com."),
)


def language_field(default_help: str) -> models.CharField:
    """A portal language (settings.LANGUAGES); empty: the level above decides (tenants/i18n.py)."""
    return models.CharField(
        max_length=8, blank=True, default="", choices=settings.LANGUAGES, help_text=f"Empty: {default_help}."
    )


class Role(models.TextChoices):
    GOD = "god", _("Platform operator")
    BRAND = "brand", _("Brand operator")
    CLIENT = "client", _("Client operator")
    USER = "user", _("User")


class UniqueNamesInLanguage:
    """Django's "<model> with this <field> already exists." refusal, with the model's and the field's names in
    the page's language (`unique_names`: "" names the model). Their verbose names stay as they are:
    translating those would make migrations; the English text is the same."""

    unique_names: dict = {}

    def unique_error_message(self, model_class, unique_check):
        error = super().unique_error_message(model_class, unique_check)
        (field, *more) = unique_check
        if error.code == "unique" and not more and field in self.unique_names:
            error.params = {**error.params, "model_name": self.unique_names[""],
                            "field_label": self.unique_names[field]}  # fmt: skip
        return error


class Theme(UniqueNamesInLanguage, models.Model):
    """Portal colours and logo; a brand's theme, optionally overridden by a client."""

    primary_colour = models.CharField(max_length=7, blank=True, validators=[hex_colour])
    accent_colour = models.CharField(max_length=7, blank=True, validators=[hex_colour])
    logo = models.BinaryField(blank=True, null=True, editable=False)
    logo_type = models.CharField(max_length=40, blank=True, editable=False)

    class Meta:
        abstract = True


class BrandQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        if actor.role == Role.GOD:
            return self.all()
        if actor.role == Role.BRAND:
            return self.filter(pk=actor.brand_id)
        return self.none()


class Brand(Theme):
    """A reseller: sells the platform under its own name, domain and look to its clients."""

    name = models.CharField(max_length=100, unique=True)
    domain = models.CharField(
        max_length=253, unique=True, validators=[hostname], help_text="Host of the brand's portal."
    )
    language = language_field("English")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = BrandQuerySet.as_manager()
    unique_names = {"": _("Brand"), "name": _("Name"), "domain": _("Domain")}

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BrandAlias(models.Model):
    """Another host name that serves a brand's portal (the brand's `domain` is the main one)."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="aliases")
    domain = models.CharField(max_length=253, unique=True, validators=[hostname])

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class ClientQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        if actor.role == Role.GOD:
            return self.all()
        if actor.role == Role.BRAND:
            return self.filter(brand_id=actor.brand_id)
        if actor.role in (Role.CLIENT, Role.USER):
            return self.filter(pk=actor.client_id)
        return self.none()


class Client(TenantMixin, Theme):
    """A customer company of a brand, with its own PostgreSQL schema."""

    class Kind(models.TextChoices):
        PBX = "pbx", _("Virtual PBX")
        CONFERENCING = "conferencing", _("Conferencing")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        DELETED = "deleted", _("Deleted")

    class SipDigest(models.TextChoices):
        """Digest algorithms the SIP edge offers this client's phones (RFC 8760: preferred first)."""

        PLATFORM = "", _("Platform default")
        MD5 = "md5", _("MD5 (every phone)")
        SHA256_MD5 = "sha256+md5", _("SHA-256 preferred, MD5 accepted")
        SHA256 = "sha256", _("SHA-256 only")

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="clients")
    name = models.CharField(max_length=100)
    slug = models.CharField(
        max_length=40,
        validators=[client_slug],
        help_text="Short name: lower-case letters, digits and single dashes; used in the default domains.",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PBX)
    sip_domain = models.CharField(
        max_length=253, unique=True, validators=[hostname], help_text="SIP realm of the client's phones."
    )
    max_calls = models.PositiveIntegerField(default=10, help_text="Maximum concurrent calls.")
    sip_digest = models.CharField(
        max_length=12,
        choices=SipDigest.choices,
        default=SipDigest.PLATFORM,
        blank=True,
        help_text="Digest algorithms offered to the client's phones; many phones answer MD5 only.",
    )
    timezone = models.CharField(max_length=64, default="UTC")
    country = models.CharField(
        max_length=2, default="US", help_text="ISO 3166 code: how its users dial and see numbers."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    language = language_field("the brand's language")
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = False  # hard delete drops it explicitly, see client_hard_delete

    objects = ClientQuerySet.as_manager()
    unique_names = {"": _("Client"), "sip_domain": _("SIP domain")}

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "slug"], name="client_slug_unique_per_brand"),
            models.UniqueConstraint(fields=["brand", "name"], name="client_name_unique_per_brand"),
        ]

    def __str__(self) -> str:
        return self.name

    def create_schema(self, check_if_exists: bool = False, sync_schema: bool = True, verbosity: int = 1) -> bool:
        """The client's schema as a copy of the migrated template (tenants/schemas.py), which is much
        faster than migrating a fresh one; django-tenants calls this when a client is saved first."""
        from tenants.schemas import client_schema_create

        if check_if_exists and schema_exists(self.schema_name):
            return False
        if not sync_schema:
            return super().create_schema(check_if_exists, sync_schema, verbosity)
        client_schema_create(self.schema_name, verbosity=verbosity)
        return True

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def sip_digest_algorithms(self) -> list[str] | None:
        """The algorithms the edge offers, preferred first; None: the platform's OCX_SIP_DIGEST_ALGORITHMS."""
        return DIGEST_ALGORITHMS.get(self.sip_digest)


DIGEST_ALGORITHMS = {
    Client.SipDigest.MD5: ["MD5"],
    Client.SipDigest.SHA256_MD5: ["SHA-256", "MD5"],
    Client.SipDigest.SHA256: ["SHA-256"],
}


class Domain(DomainMixin):
    """A host name that serves a client's portal (the first is the client's primary domain)."""

    def __str__(self) -> str:
        return self.domain


class UserQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """Accounts an actor may see: each level sees its own level and the operators below it."""
        if actor.role == Role.GOD:
            return self.all()
        if actor.role == Role.BRAND:
            return self.filter(Q(brand_id=actor.brand_id) | Q(client__brand_id=actor.brand_id))
        if actor.role == Role.CLIENT:
            return self.filter(client_id=actor.client_id)
        return self.filter(pk=actor.pk)


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields):
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        return self.create_user(email, password, role=Role.GOD, **fields)


class User(UniqueNamesInLanguage, AbstractBaseUser):
    """A person who logs in: a platform operator, a brand operator, a client operator or an employee."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=10, choices=Role.choices)
    brand = models.ForeignKey(Brand, null=True, blank=True, on_delete=models.CASCADE, related_name="operators")
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.CASCADE, related_name="accounts")
    is_active = models.BooleanField(default=True)
    language = language_field("the client's language")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = UserManager()
    unique_names = {"": _("User"), "email": _("Email")}

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(
                name="user_scope_matches_role",
                condition=(
                    Q(role=Role.GOD, brand__isnull=True, client__isnull=True)
                    | Q(role=Role.BRAND, brand__isnull=False, client__isnull=True)
                    | Q(role__in=[Role.CLIENT, Role.USER], brand__isnull=True, client__isnull=False)
                ),
            )
        ]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.name

    @property
    def is_operator(self) -> bool:
        return self.role != Role.USER

    @property
    def is_staff(self) -> bool:  # Django's auth views and templates ask for it
        return False


class SipAddressRuleQuerySet(BrandScopedQuerySet):
    """God: every rule (the global ones too); a brand operator: its clients' rules."""

    brand_field = "client__brand_id"


class SipAddressRule(models.Model):
    """A network allowed or denied at the SIP edge: for every client (no client) or for one client.

    Deny wins. When a client has allow rules, its lines register only from those networks; when
    global allow rules exist, the edge answers only those networks.
    """

    class Action(models.TextChoices):
        ALLOW = "allow", _("Allow")
        DENY = "deny", _("Deny")

    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.CASCADE, related_name="sip_rules")
    network = models.CharField(max_length=43, help_text="An address or network, such as 203.0.113.0/24.")
    action = models.CharField(max_length=5, choices=Action.choices)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SipAddressRuleQuerySet.as_manager()

    class Meta:
        ordering = ["client_id", "action", "network"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "network", "action"], name="sip_rule_unique", nulls_distinct=False
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.network}"


class ApiToken(models.Model):
    """A named API key of one account; only its SHA-256 is stored, the key is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, help_text="First characters of the key, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"


class AuditEvent(models.Model):
    """Who changed what, kept for operators: one row per write that matters."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=60)
    brand = models.ForeignKey(Brand, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_email} {self.action} {self.target}"


class SecondFactor(models.Model):
    """An account's authenticator app (TOTP): its secret, encrypted at rest, on once confirmed with a code."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="second_factor")
    secret = models.TextField(help_text="The TOTP secret, encrypted with OCX_CREDENTIALS_KEY.")
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="Empty while it is being set up.")
    last_step = models.BigIntegerField(default=0, help_text="The last 30-second step a code was used for.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"second factor of {self.user_id}"


class RecoveryCode(models.Model):
    """A one-time code that stands in for the authenticator app; only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


class SecondFactorRule(models.Model):
    """An operator's rule that every account of their scope signs in with a second factor: the whole
    platform, a brand (its operators and its clients' accounts) or a client (its accounts)."""

    scope = models.CharField(max_length=40, unique=True, help_text='"platform", "brand:<id>" or "client:<id>".')
    brand = models.OneToOneField(Brand, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    client = models.OneToOneField(Client, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"second factor required for {self.scope}"
