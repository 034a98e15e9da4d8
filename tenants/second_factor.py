"""A second factor for portal sign-in: time-based one-time passwords (RFC 6238, an authenticator app)
and recovery codes, and the operators' rules that require one for their scope.

The secret is encrypted at rest (exports/crypto.py, OCX_CREDENTIALS_KEY); a code is good once (the
step it was used for is kept); recovery codes are stored as SHA-256 and each works once. Wrong codes
at sign-in are counted like wrong passwords, with limits of their own (OCX_SECOND_FACTOR). API tokens
are not affected: a token is a credential of its own, made by a signed-in account.
"""

from __future__ import annotations

import hashlib
import secrets

import pyotp
import segno
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from exports.crypto import decrypt, encrypt
from tenants.audit import audit
from tenants.errors import PlatformError
from tenants.models import RecoveryCode, Role, SecondFactor, SecondFactorRule, User

RECOVERY_CODES = 10
VERIFIED = "ocx-second-factor"  # session key: this session signed in with its second factor
WRONG_CODE = gettext_noop("That code is not right: enter the 6 digits your app shows now, or a recovery code.")


class SecondFactorOn(PlatformError):
    """The account already has a second factor: remove it before setting up another."""

    code = "second-factor-on"
    status = 409

    def __init__(self):
        super().__init__("A second factor is already on for this account.")


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normal(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()[:32]


def second_factor_of(account: User) -> SecondFactor | None:
    """The account's confirmed second factor, or None."""
    return SecondFactor.objects.filter(user=account, confirmed_at__isnull=False).first()


def scopes_of(account: User) -> list[str]:
    """The rules' scopes that cover an account: the platform's, its brand's, its client's."""
    if account.role == Role.GOD:
        return ["platform"]
    if account.role == Role.BRAND:
        return ["platform", f"brand:{account.brand_id}"]
    return ["platform", f"brand:{account.client.brand_id}", f"client:{account.client_id}"]


def own_scope(actor: User) -> str:
    """The scope an operator's rule covers: theirs."""
    return {Role.GOD: "platform", Role.BRAND: f"brand:{actor.brand_id}", Role.CLIENT: f"client:{actor.client_id}"}[
        actor.role
    ]


def second_factor_required(account: User) -> bool:
    """Whether an operator requires a second factor of this account (of its platform, brand or client)."""
    return SecondFactorRule.objects.filter(scope__in=scopes_of(account)).exists()


def second_factor_rule_of(actor: User) -> bool:
    """Whether the operator's own scope requires a second factor."""
    return SecondFactorRule.objects.filter(scope=own_scope(actor)).exists()


@transaction.atomic
def second_factor_rule_set(*, actor: User, required: bool) -> None:
    """Require (or stop requiring) a second factor of every account in the operator's scope."""
    if actor.role == Role.USER:
        raise PermissionError("Only operators set rules.")
    scope = own_scope(actor)
    if required:
        _, created = SecondFactorRule.objects.get_or_create(
            scope=scope, defaults={"brand_id": actor.brand_id, "client_id": actor.client_id}
        )
    else:
        created = bool(SecondFactorRule.objects.filter(scope=scope).delete()[0])
    if created:
        action = "second_factor.require" if required else "second_factor.not_required"
        audit(actor, action, scope, brand=actor.brand, client=actor.client)


@transaction.atomic
def second_factor_begin(*, actor: User) -> SecondFactor:
    """A new secret for the account's authenticator app, not on until confirmed with a code."""
    if second_factor_of(actor) is not None:
        raise SecondFactorOn()
    SecondFactor.objects.filter(user=actor).delete()
    return SecondFactor.objects.create(user=actor, secret=encrypt(pyotp.random_base32()))


def pending_factor(account: User) -> SecondFactor | None:
    return SecondFactor.objects.filter(user=account, confirmed_at__isnull=True).first()


def provisioning(factor: SecondFactor, *, issuer: str) -> dict:
    """What the set-up page shows: the secret to type in, and the otpauth:// address as a QR code (an
    SVG data URI: the portals' Content-Security-Policy lets images come as data)."""
    secret = decrypt(factor.secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=factor.user.email, issuer_name=issuer)
    return {"secret": secret, "uri": uri, "qr": segno.make(uri, error="m").svg_data_uri(scale=4, border=2)}


def _matching_step(factor: SecondFactor, code: str) -> int | None:
    """The 30-second step a TOTP code belongs to (now, or one step either side for clock drift),
    when it is later than the last one used; None otherwise."""
    code = _normal(code)
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(decrypt(factor.secret))
    now = timezone.now()
    current = totp.timecode(now)
    for offset in (0, -1, 1):
        step = current + offset
        if step > factor.last_step and secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _recovery_codes_new(account: User) -> list[str]:
    RecoveryCode.objects.filter(user=account).delete()
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    RecoveryCode.objects.bulk_create(RecoveryCode(user=account, code_hash=_code_hash(_normal(c))) for c in codes)
    return codes


@transaction.atomic
def second_factor_confirm(*, actor: User, code: str) -> list[str]:
    """Turn the set-up second factor on with a code from the app; its recovery codes, to show once."""
    factor = SecondFactor.objects.select_for_update().filter(user=actor, confirmed_at__isnull=True).first()
    if factor is None:
        raise ValidationError({"code": gettext("Start the set-up again: no authenticator app is waiting for a code.")})
    step = _matching_step(factor, code)
    if step is None:
        raise ValidationError({"code": gettext(WRONG_CODE)})
    factor.confirmed_at, factor.last_step = timezone.now(), step
    factor.save(update_fields=["confirmed_at", "last_step"])
    codes = _recovery_codes_new(actor)
    audit(actor, "account.second_factor.setup", actor, brand=actor.brand, client=actor.client)
    return codes


@transaction.atomic
def second_factor_verify(*, account: User, code: str) -> bool:
    """Whether a code from the app (not used before) or an unused recovery code is right; a recovery
    code is used up by this."""
    factor = SecondFactor.objects.select_for_update().filter(user=account, confirmed_at__isnull=False).first()
    if factor is None:
        return False
    step = _matching_step(factor, code)
    if step is not None:
        factor.last_step = step
        factor.save(update_fields=["last_step"])
        return True
    used = RecoveryCode.objects.filter(user=account, code_hash=_code_hash(_normal(code)), used_at__isnull=True).update(
        used_at=timezone.now()
    )
    if used:
        left = RecoveryCode.objects.filter(user=account, used_at__isnull=True).count()
        audit(account, "account.second_factor.recovery_code", account, brand=account.brand, client=account.client,
              left=left)  # fmt: skip
    return bool(used)


@transaction.atomic
def second_factor_remove(*, actor: User, account: User) -> None:
    """Turn the account's second factor off: by its owner ("removal"), or by an operator of its scope
    for someone who lost their phone and codes ("reset")."""
    if actor.pk != account.pk and not User.objects.restrict(actor).filter(pk=account.pk).exists():
        raise PermissionError("Not in the actor's scope.")
    removed = SecondFactor.objects.filter(user=account).delete()[0]
    RecoveryCode.objects.filter(user=account).delete()
    if removed:
        action = "account.second_factor.remove" if actor.pk == account.pk else "account.second_factor.reset"
        audit(actor, action, account, brand=account.brand, client=account.client)


def recovery_codes_left(account: User) -> int:
    return RecoveryCode.objects.filter(user=account, used_at__isnull=True).count()


def second_factor_blocks(user: User, session) -> bool:
    """Whether an operator's rule stops this signed-in session until its account sets up a second factor:
    its pages send it to the set-up page, its API calls get 403 second-factor-required and its WebSockets
    are refused (tenants/consumers.py). A session that passed a code is never stopped."""
    return not session.get(VERIFIED) and second_factor_required(user) and second_factor_of(user) is None


SETUP_PATH = "/account/second-factor/"
# Where an account that must set up a second factor may still go: the set-up page, signing out, assets.
OPEN_PATHS = (SETUP_PATH, "/logout/", "/static/", "/theme/", "/healthz")


def _token_call(request: HttpRequest) -> bool:
    """An API call that names a token (tenants.api.auth.TokenAuthentication: it is the token's account,
    or a 401, never the session's). Any other Authorization header leaves the call to the session."""
    from tenants.api.auth import TokenAuthentication  # (the API's modules import this one)

    words = request.META.get("HTTP_AUTHORIZATION", "").split()
    return request.path.startswith("/api/") and bool(words) and words[0].lower() in TokenAuthentication.keywords


class SecondFactorMiddleware:
    """Send accounts that an operator requires a second factor of, and that have none, to set it up
    (their sessions' API calls are refused until then; API tokens are not affected)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not request.path.startswith(OPEN_PATHS)
            and not _token_call(request)
            and second_factor_blocks(user, request.session)
        ):
            if request.path.startswith("/api/"):
                detail = "Set up a second factor in the portal first (your operator requires one)."
                return JsonResponse({"code": "second-factor-required", "detail": detail}, status=403)
            messages.warning(request, gettext("Your operator requires a second factor: set it up to go on."))
            return redirect(SETUP_PATH)
        return self.get_response(request)
