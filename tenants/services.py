"""Writes on the hierarchy: brands, clients, operator accounts, API tokens.

Every function takes the acting account first (`actor`) and checks the actor's right to do the
write; callers (portal views, API views, commands) stay thin.
"""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo

import phonenumbers
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telephony.directory import (
    sip_directory_drop_client,
    sip_directory_prompts_changed,
    sip_directory_put_client,
    sip_directory_refresh_account,
)
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.events import (
    CLOSE_SIGNED_OUT,
    CLOSE_SUSPENDED,
    group_for_sockets_of_client,
    group_for_sockets_of_user,
    sockets_close,
)
from tenants.models import ApiToken, Brand, BrandAlias, Client, Domain, Role, User, hostname
from tenants.scoping import require_role as _require
from tenants.signin import signin_unlock

LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
LOGO_MAX_BYTES = 256 * 1024


def _full_clean(obj, exclude=None) -> None:
    # Uniqueness across rows is checked by the services themselves, naming the field.
    obj.full_clean(exclude=exclude, validate_unique=True, validate_constraints=False)


def domain_in_use(host: str, *, ignore: object = None) -> bool:
    """Whether a host already serves a portal (the platform's, a brand's or a client's)."""
    if host in settings.OCX_PLATFORM_HOSTS:
        return True
    brands = Brand.objects.filter(domain=host)
    aliases = BrandAlias.objects.filter(domain=host)
    domains = Domain.objects.filter(domain=host)
    if isinstance(ignore, Brand):
        brands = brands.exclude(pk=ignore.pk)
        aliases = aliases.exclude(brand=ignore)
    if isinstance(ignore, Client):
        domains = domains.exclude(tenant=ignore)
    return brands.exists() or aliases.exists() or domains.exists()


def _check_host(host: str, *, ignore: object = None) -> str:
    host = host.strip().lower()
    try:
        hostname(host)
    except ValidationError as exc:
        raise ValidationError({"domain": exc.messages}) from exc
    if domain_in_use(host, ignore=ignore):
        raise ValidationError({"domain": _("The domain %(host)s is already in use.") % {"host": host}})
    return host


def logo_checked(data: bytes | None) -> tuple[bytes, str]:
    """A logo upload as (bytes, content type); PNG or JPEG up to 256 KB."""
    if not data:
        raise ValidationError({"logo": _("The file is empty.")})
    if len(data) > LOGO_MAX_BYTES:
        raise ValidationError({"logo": _("A logo may be at most 256 KB.")})
    for magic, content_type in LOGO_TYPES.items():
        if data.startswith(magic):
            return data, content_type
    raise ValidationError({"logo": _("Upload a PNG or JPEG image.")})


def _apply_theme(owner, fields: dict, logo: bytes | None, clear_logo: bool) -> None:
    for name in ("primary_colour", "accent_colour"):
        if name in fields:
            setattr(owner, name, fields[name] or "")
    if clear_logo:
        owner.logo, owner.logo_type = None, ""
    elif logo is not None:
        owner.logo, owner.logo_type = logo_checked(logo)


def _collect(errors: dict[str, list[str]], check, *args, **kwargs):
    """Run one check; its refusals join `errors` (a field keeps its first error) instead of ending the
    service, so that one submission reports every bad field."""
    try:
        return check(*args, **kwargs)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, messages)
    return None


# Brands ----------------------------------------------------------------------------------------


def _aliases_checked(brand: Brand, aliases: list[str]) -> list[str]:
    """A brand's other portal hosts; each must be free and differ from its main domain."""
    hosts, errors = [], []
    for alias in aliases:
        host = alias.strip().lower()
        if not host or host in hosts:
            continue
        try:
            host = _check_host(host, ignore=brand if brand.pk else None)
        except ValidationError as exc:
            errors.extend(exc.message_dict["domain"])
            continue
        if host == brand.domain:
            errors.append(_("%(host)s is already the brand's main domain.") % {"host": host})
            continue
        hosts.append(host)
    if errors:
        raise ValidationError({"aliases": errors})
    return hosts


def _set_aliases(brand: Brand, hosts: list[str]) -> None:
    brand.aliases.exclude(domain__in=hosts).delete()
    for host in hosts:
        BrandAlias.objects.get_or_create(brand=brand, domain=host)


def brand_check(
    brand: Brand,
    *,
    logo: bytes | None = None,
    clear_logo: bool = False,
    aliases: list[str] | None = None,
    **fields,
) -> list[str] | None:
    """Put the changes on the (unsaved) brand, refusing every bad field at once; the other domains
    as they will be kept (None: unchanged)."""
    errors: dict[str, list[str]] = {}
    for name in ("name", "domain", "language"):
        if fields.get(name) is not None:
            setattr(brand, name, fields[name].strip().lower() if name == "domain" else fields[name].strip())
    _collect(errors, _apply_theme, brand, fields, logo, clear_logo)
    _collect(errors, _full_clean, brand)
    if "domain" not in errors:
        _collect(errors, _check_host, brand.domain, ignore=brand if brand.pk else None)
    hosts = None if aliases is None else _collect(errors, _aliases_checked, brand, aliases)
    if errors:
        raise ValidationError(errors)
    return hosts


@transaction.atomic
def brand_create(
    *,
    actor: User,
    name: str,
    domain: str,
    primary_colour: str = "",
    accent_colour: str = "",
    logo: bytes | None = None,
    aliases: list[str] = (),
    language: str = "",
) -> Brand:
    _require(actor, Role.GOD)
    brand = Brand()
    hosts = brand_check(brand, name=name, domain=domain, primary_colour=primary_colour, accent_colour=accent_colour,
                        logo=logo, aliases=list(aliases), language=language)  # fmt: skip
    brand.save()
    _set_aliases(brand, hosts)
    audit(actor, "brand.create", brand, brand=brand)
    return brand


@transaction.atomic
def brand_update(
    *,
    actor: User,
    brand: Brand,
    logo: bytes | None = None,
    clear_logo: bool = False,
    aliases: list[str] | None = None,
    **fields,
) -> Brand:
    """God edits any brand; a brand operator edits its own name, domains and theme."""
    _require(actor, Role.GOD, Role.BRAND)
    if actor.role == Role.BRAND and actor.brand_id != brand.pk:
        raise NotAllowed(_("Your role may not do this."))
    hosts = brand_check(brand, logo=logo, clear_logo=clear_logo, aliases=aliases, **fields)
    brand.save()
    brand.aliases.filter(domain=brand.domain).delete()  # an alias promoted to main domain
    if hosts is not None:
        _set_aliases(brand, hosts)
    if "language" in fields:  # its clients without a language of their own speak it on the phone too
        sip_directory_prompts_changed()
    audit(actor, "brand.update", brand, brand=brand, fields=sorted([*fields, *(["aliases"] if aliases else [])]))
    return brand


@transaction.atomic
def brand_delete(*, actor: User, brand: Brand) -> None:
    _require(actor, Role.GOD)
    if brand.clients.exists():
        raise ValidationError(_("Delete or move this brand's clients first."))
    audit(actor, "brand.delete", brand)
    brand.delete()


# Clients ---------------------------------------------------------------------------------------


def _check_country(code: str) -> None:
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError({"country": _("Use a two-letter ISO 3166 country code in capitals, such as DE or US.")})


def _check_timezone(name: str) -> None:
    if name not in zoneinfo.available_timezones():
        raise ValidationError({"timezone": _("Unknown time zone; use a name such as Europe/Paris.")})


def client_schema_name(brand: Brand, slug: str) -> str:
    return f"b{brand.pk}_{slug.replace('-', '_')}"[:63]


def client_check_new(
    *,
    brand: Brand | None,
    name: str | None,
    slug: str | None,
    kind: str | None = Client.Kind.PBX,
    max_calls: int | None = 10,
    timezone_name: str | None = "UTC",
    domain: str | None = "",
    sip_domain: str | None = "",
    sip_digest: str | None = Client.SipDigest.PLATFORM,
    country: str | None = "US",
    language: str | None = "",
) -> tuple[Client, str]:
    """A new client (unsaved) and its portal host, or one ValidationError with every refused field
    (None: a value the form refused already; its errors here are the form's to show)."""
    slug = (slug or "").strip().lower()
    default_host = f"{slug}.{brand.domain}" if brand else slug
    client = Client(
        brand=brand,
        name=(name or "").strip(),
        slug=slug,
        kind=kind or "",
        max_calls=max_calls,
        sip_digest=sip_digest or "",
        timezone=timezone_name or "",
        country=country or "",
        language=language or "",
        sip_domain=((sip_domain or "").strip().lower() or default_host),
        schema_name=client_schema_name(brand, slug) if brand else "",
    )
    errors: dict[str, list[str]] = {}
    if brand is not None and Client.objects.filter(brand=brand, slug=slug).exists():
        errors["slug"] = [_("This brand already has a client with this short name.")]
    if brand is not None and Client.objects.filter(brand=brand, name=client.name).exists():
        errors["name"] = [_("This brand already has a client with this name.")]
    _collect(errors, _full_clean, client, exclude=["schema_name"])
    _collect(errors, _check_timezone, client.timezone)
    _collect(errors, _check_country, client.country)
    host = _collect(errors, _check_host, domain or default_host)
    if errors:
        raise ValidationError(errors)
    return client, host


@transaction.atomic
def client_create(
    *,
    actor: User,
    brand: Brand,
    name: str,
    slug: str,
    kind: str = Client.Kind.PBX,
    max_calls: int = 10,
    timezone_name: str = "UTC",
    domain: str = "",
    sip_domain: str = "",
    sip_digest: str = Client.SipDigest.PLATFORM,
    country: str = "US",
    language: str = "",
) -> Client:
    """Create a client of a brand with its schema, portal domain and SIP domain."""
    _require(actor, Role.GOD, Role.BRAND)
    if actor.role == Role.BRAND and actor.brand_id != brand.pk:
        raise NotAllowed(_("Your role may not do this."))
    client, host = client_check_new(brand=brand, name=name, slug=slug, kind=kind, max_calls=max_calls,
                                    timezone_name=timezone_name, domain=domain, sip_domain=sip_domain,
                                    sip_digest=sip_digest, country=country, language=language)  # fmt: skip
    client.save(verbosity=0)  # creates and migrates the schema, inside this transaction
    Domain.objects.create(domain=host, tenant=client, is_primary=True)
    connection.set_schema_to_public()
    sip_directory_put_client(client)
    audit(actor, "client.create", client, client=client)
    return client


def client_check(
    client: Client, *, logo: bytes | None = None, clear_logo: bool = False, domain: str | None = None, **fields
) -> str | None:
    """Put the changes on the (unsaved) client, refusing every bad field at once; its new portal host
    (None: unchanged)."""
    for name in ("name", "kind", "max_calls", "sip_digest", "timezone", "country", "language"):
        if name in fields:
            setattr(client, name, fields[name])
    errors: dict[str, list[str]] = {}
    if Client.objects.filter(brand=client.brand, name=client.name).exclude(pk=client.pk).exists():
        errors["name"] = [_("This brand already has a client with this name.")]
    _collect(errors, _apply_theme, client, fields, logo, clear_logo)
    _collect(errors, _full_clean, client, exclude=["schema_name"])
    _collect(errors, _check_timezone, client.timezone)
    _collect(errors, _check_country, client.country)
    host = None if domain is None else _collect(errors, _check_host, domain, ignore=client)
    if errors:
        raise ValidationError(errors)
    return host


@transaction.atomic
def client_update(
    *,
    actor: User,
    client: Client,
    logo: bytes | None = None,
    clear_logo: bool = False,
    domain: str | None = None,
    **fields,
) -> Client:
    """Brand and god edit a client's contract; the client's operators edit its settings and theme."""
    if actor.role in (Role.GOD, Role.BRAND):
        allowed = {"name", "kind", "max_calls", "sip_digest", "timezone", "country", "language", "primary_colour",
                   "accent_colour"}  # fmt: skip
    elif actor.role == Role.CLIENT and actor.client_id == client.pk:
        allowed = {"timezone", "language", "primary_colour", "accent_colour"}
        if domain is not None:
            raise NotAllowed(_("Only the brand changes a client's domain."))
    else:
        raise NotAllowed(_("Your role may not do this."))
    if set(fields) - allowed:
        raise NotAllowed(_("You may not change: %(fields)s.") % {"fields": ", ".join(sorted(set(fields) - allowed))})
    domain = client_check(client, logo=logo, clear_logo=clear_logo, domain=domain, **fields)
    if domain is not None:
        Domain.objects.filter(tenant=client, is_primary=True).update(domain=domain)
    client.save()
    sip_directory_put_client(client)
    audit(actor, "client.update", client, client=client, fields=sorted([*fields, *(["domain"] if domain else [])]))
    return client


def client_primary_domain(client: Client) -> str:
    primary = client.domains.filter(is_primary=True).first() or client.domains.first()
    return primary.domain if primary else ""


def _client_status(actor: User, client: Client, status: str, action: str) -> Client:
    _require(actor, Role.GOD, Role.BRAND)
    client.status = status
    client.save(update_fields=["status"])
    sip_directory_put_client(client)
    if status != Client.Status.ACTIVE:  # open live views of its accounts end with their sessions
        sockets_close(group_for_sockets_of_client(client.pk), CLOSE_SUSPENDED)
    audit(actor, action, client, client=client)
    return client


@transaction.atomic
def client_suspend(*, actor: User, client: Client) -> Client:
    """Suspend: logins, sessions and API tokens of the client stop at once; data is kept."""
    return _client_status(actor, client, Client.Status.SUSPENDED, "client.suspend")


@transaction.atomic
def client_activate(*, actor: User, client: Client) -> Client:
    """Bring a suspended or deleted client back into service."""
    return _client_status(actor, client, Client.Status.ACTIVE, "client.activate")


@transaction.atomic
def client_delete(*, actor: User, client: Client) -> Client:
    """Delete reversibly: the client disappears from its portal, its data stays."""
    return _client_status(actor, client, Client.Status.DELETED, "client.delete")


@transaction.atomic
def client_hard_delete(*, actor: User, client: Client, confirm: str) -> None:
    """Drop the client's schema and rows for good: god only, confirmed by typing the client's slug."""
    _require(actor, Role.GOD)
    if confirm != client.slug:
        raise ValidationError(
            {"confirm": _("Type the client's short name (%(slug)s) to confirm.") % {"slug": client.slug}}
        )
    if client.status != Client.Status.DELETED:
        raise ValidationError(_("Delete the client first; hard delete only removes deleted clients."))
    audit(actor, "client.hard_delete", client, brand=client.brand, schema=client.schema_name)
    connection.set_schema_to_public()
    sip_directory_drop_client(client)
    client.delete(force_drop=True)


# Operator accounts -----------------------------------------------------------------------------

# Which operator roles each role creates: its own level and the level below it.
CREATES = {
    Role.GOD: {Role.GOD, Role.BRAND, Role.CLIENT},
    Role.BRAND: {Role.BRAND, Role.CLIENT},
    Role.CLIENT: {Role.CLIENT},
}


def _check_operator_scope(actor: User, role: str, brand: Brand | None, client: Client | None) -> None:
    if role not in CREATES.get(actor.role, set()):
        raise NotAllowed(_("Your role may not manage these accounts."))
    if role == Role.BRAND and brand is None:
        raise ValidationError({"brand": _("Choose the brand this operator works for.")})
    if role == Role.CLIENT and client is None:
        raise ValidationError({"client": _("Choose the client this operator works for.")})
    if actor.role == Role.BRAND and (
        (brand is not None and brand.pk != actor.brand_id) or (client is not None and client.brand_id != actor.brand_id)
    ):
        raise NotAllowed(_("Your role may not manage these accounts."))
    if actor.role == Role.CLIENT and client is not None and client.pk != actor.client_id:
        raise NotAllowed(_("Your role may not manage these accounts."))


def account_validate_new(*, email: str | None, password: str | None, name: str | None) -> str:
    """The new account's e-mail as stored; every refused field at once (None: not given, refused by
    the form already: its errors here are the form's to show)."""
    email = User.objects.normalize_email((email or "").strip()).lower()
    probe = User(email=email, name=name or "")
    errors: dict[str, list[str]] = {}
    try:
        probe.full_clean(exclude=["password", "role", "brand", "client"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        validate_password(password or "", probe)
    except ValidationError as exc:
        errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return email


def operator_check_new(
    *,
    actor: User,
    role: str | None,
    email: str | None,
    name: str | None,
    password: str | None,
    brand: Brand | None = None,
    client: Client | None = None,
) -> tuple[str, Brand | None, Client | None]:
    """A new operator's e-mail, brand and client as stored, or one ValidationError with every refused
    field (None: a value the form refused already). A role the actor may not create is NotAllowed."""
    # An operator creating one of its own level means its own brand or client by default.
    if role == Role.BRAND and brand is None and actor.role == Role.BRAND:
        brand = actor.brand
    if role == Role.CLIENT and client is None and actor.role == Role.CLIENT:
        client = actor.client
    brand = brand if role == Role.BRAND else None
    client = client if role in (Role.CLIENT, Role.USER) else None
    errors: dict[str, list[str]] = {}
    if role is not None:
        _collect(errors, _check_operator_scope, actor, role, brand, client)
    email = _collect(errors, account_validate_new, email=email, password=password, name=name)
    if errors:
        raise ValidationError(errors)
    return email, brand, client


@transaction.atomic
def operator_create(
    *,
    actor: User,
    role: str,
    email: str,
    name: str,
    password: str,
    brand: Brand | None = None,
    client: Client | None = None,
) -> User:
    email, brand, client = operator_check_new(
        actor=actor, role=role, email=email, name=name, password=password, brand=brand, client=client
    )
    user = User.objects.create_user(email, password, name=name.strip(), role=role, brand=brand, client=client)
    audit(actor, "operator.create", user, brand=brand, client=client, role=role)
    return user


@transaction.atomic
def account_update(*, actor: User, account: User, **fields) -> User:
    """Change an account's name, e-mail or active flag (operators in scope, or the account itself)."""
    if actor.pk != account.pk:
        _check_operator_scope(
            actor, account.role if account.role != Role.USER else Role.CLIENT, account.brand, account.client
        )
    elif "is_active" in fields:
        raise NotAllowed(_("You cannot deactivate yourself."))
    if "language" in fields and actor.pk != account.pk:
        raise NotAllowed(_("Only the account itself chooses its language."))
    for name in ("email", "name", "is_active", "language"):
        if name in fields:
            value = fields[name]
            setattr(account, name, value.strip().lower() if name == "email" else value)
    account.full_clean(exclude=["password"])
    account.save()
    if account.role == Role.USER and ("is_active" in fields or "language" in fields):
        sip_directory_refresh_account(account)  # a deactivated employee's phones stop registering; the engines
        # drop the client's dial plan, which carries the language of the user's feature prompts
    if "is_active" in fields and not account.is_active:
        sockets_close(group_for_sockets_of_user(account.pk), CLOSE_SIGNED_OUT)
    audit(actor, "account.update", account, brand=account.brand, client=account.client, fields=sorted(fields))
    return account


@transaction.atomic
def account_set_password(*, actor: User, account: User, password: str) -> None:
    """A new password. Sessions signed in with the old one end (Django's session hash), and so do
    the account's open WebSockets; API tokens stay (see token_revoke_all)."""
    if actor.pk != account.pk:
        _check_operator_scope(
            actor, account.role if account.role != Role.USER else Role.CLIENT, account.brand, account.client
        )
    try:
        validate_password(password, account)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    account.set_password(password)
    account.save(update_fields=["password"])
    sockets_close(group_for_sockets_of_user(account.pk), CLOSE_SIGNED_OUT)
    audit(actor, "account.password", account, brand=account.brand, client=account.client)


@transaction.atomic
def account_unlock(*, actor: User, account: User) -> None:
    """Lift the sign-in lock that wrong passwords put on an account (tenants/signin.py)."""
    if actor.pk == account.pk:
        raise NotAllowed(_("Another operator unlocks your account."))
    _check_operator_scope(
        actor, account.role if account.role != Role.USER else Role.CLIENT, account.brand, account.client
    )
    signin_unlock(email=account.email)
    audit(actor, "account.unlock", account, brand=account.brand, client=account.client)


@transaction.atomic
def operator_delete(*, actor: User, account: User) -> None:
    if account.role == Role.USER:
        raise NotAllowed(_("Employees are removed with their extension."))
    if account.pk == actor.pk:
        raise NotAllowed(_("You cannot delete your own account."))
    _check_operator_scope(actor, account.role, account.brand, account.client)
    audit(actor, "operator.delete", account, brand=account.brand, client=account.client)
    sockets_close(group_for_sockets_of_user(account.pk), CLOSE_SIGNED_OUT)
    account.delete()


# API tokens ------------------------------------------------------------------------------------


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def token_create(*, actor: User, name: str) -> tuple[ApiToken, str]:
    """A new API key for the actor's own account; the key itself is returned once, never stored."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the token a name.")})
    key = "ocx_" + secrets.token_urlsafe(30)
    token = ApiToken.objects.create(user=actor, name=name[:100], prefix=key[4:12], key_hash=token_hash(key))
    audit(actor, "token.create", token, brand=actor.brand, client=actor.client)
    return token, key


@transaction.atomic
def token_revoke_all(*, actor: User, keep: ApiToken | None = None) -> int:
    """Revoke every API token of the actor's own account (but `keep`, the one making this call);
    how many."""
    tokens = ApiToken.objects.filter(user=actor).exclude(pk=getattr(keep, "pk", None))
    count = tokens.count()
    tokens.delete()
    audit(actor, "token.revoke_all", actor, brand=actor.brand, client=actor.client, count=count)
    return count


@transaction.atomic
def token_revoke(*, actor: User, token: ApiToken) -> None:
    if token.user_id != actor.pk:
        raise NotAllowed(_("Only the token's owner revokes it."))
    audit(actor, "token.revoke", token, brand=actor.brand, client=actor.client)
    token.delete()


def token_user(key: str) -> User | None:
    """The account an API key belongs to (and mark the token used), or None."""
    token = ApiToken.objects.select_related("user__client", "user__brand").filter(key_hash=token_hash(key)).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
