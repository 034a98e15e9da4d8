"""Password reset by e-mail, on every portal's sign-in page.

The answer is the same whether an account with the address exists on this portal or not, and takes
about as long: the mail is written and sent by a Celery task (tenants/tasks.py). The link is on the
portal's own host (a brand's or client's domain), carries Django's reset token (it expires after
PASSWORD_RESET_TIMEOUT and stops working once the password changed, so it works once), and only
opens for an account of that portal. Requests are counted per typed address and per caller's address
(tenants/signin.py, OCX_PASSWORD_RESET).
"""

from __future__ import annotations

import logging
import math

import redis
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import ngettext

from tenants.audit import audit
from tenants.errors import PlatformError
from tenants.models import User
from tenants.routing import Portal, actor_refusal
from tenants.services import account_set_password
from tenants.signin import attempt_reserve, signin_unlock

log = logging.getLogger(__name__)


class ResetThrottled(PlatformError):
    """Too many reset requests for this address, or from this caller: wait."""

    code = "reset-throttled"
    status = 429

    def __init__(self, seconds: int):
        minutes = max(1, math.ceil(seconds / 60))
        super().__init__(
            ngettext(
                "Too many password reset requests: try again in %(minutes)d minute.",
                "Too many password reset requests: try again in %(minutes)d minutes.",
                minutes,
            )
            % {"minutes": minutes}
        )


def reset_account(*, portal: Portal, email: str) -> User | None:
    """The active account of this portal with this e-mail, or None (another portal's accounts are not
    found here)."""
    account = User.objects.select_related("client", "brand").filter(email__iexact=email.strip()).first()
    if account is None or actor_refusal(account, portal):
        return None
    return account


def reset_link(*, account: User, base_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(account.pk))
    return f"{base_url}/login/reset/{uid}/{default_token_generator.make_token(account)}/"


def password_reset_request(*, portal: Portal, email: str, address: str, base_url: str) -> None:
    """Ask for a reset link for `email` on this portal (whose address is base_url). Raises
    ResetThrottled past the limits; otherwise says nothing of whether the account exists."""
    seconds = attempt_reserve(kind="reset-", config=settings.OCX_PASSWORD_RESET, email=email, address=address)
    if seconds > 0:
        raise ResetThrottled(seconds)
    account = reset_account(portal=portal, email=email)
    if account is None:
        log.info("password reset asked for an address unknown on this portal, from %s", address)
        return
    from tenants.tasks import password_reset_mail  # the tasks import this module

    try:
        password_reset_mail.delay(account_id=account.pk, base_url=base_url, portal_title=portal.title,
                                  sender=(portal.brand.name if portal.brand else portal.title))  # fmt: skip
    except Exception:  # the broker is away: the person asks again later, the page must not fail
        log.exception("password reset mail for account %s not queued", account.pk)


@transaction.atomic
def password_reset_complete(*, account: User, password: str) -> None:
    """The new password chosen through a reset link: set (validated, the link stops working since the
    token covers the password), the account's sign-in lock lifted, audited."""
    account_set_password(actor=account, account=account, password=password)
    audit(account, "account.password_reset", account, brand=account.brand, client=account.client)
    try:
        signin_unlock(email=account.email)
    except redis.RedisError:
        log.exception("sign-in lock of account %s not lifted", account.pk)
