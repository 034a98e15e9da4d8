"""Platform housekeeping run by Celery beat and worker, and the mails the portals send."""

import smtplib
import time
from email.utils import formataddr

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from tenants.i18n import language_of_account
from tenants.models import User
from tenants.reset import reset_link

HEARTBEAT_KEY = "heartbeat:celery"


@shared_task
def platform_heartbeat() -> float:
    """Beat schedules it, a worker runs it: the status page reads the time it last ran."""
    now = time.time()
    cache.set(HEARTBEAT_KEY, now, timeout=600)
    return now


@shared_task(autoretry_for=(OSError, smtplib.SMTPException), retry_backoff=30, max_retries=5)
def password_reset_mail(*, account_id: int, base_url: str, portal_title: str, sender: str) -> bool:
    """Mail a password reset link (tenants/reset.py) to an active account, in its language; whether one was sent."""
    account = User.objects.select_related("client__brand", "brand").filter(pk=account_id, is_active=True).first()
    if account is None:
        return False
    context = {
        "account": account,
        "link": reset_link(account=account, base_url=base_url),
        "portal_title": portal_title,
        "hours": max(1, settings.PASSWORD_RESET_TIMEOUT // 3600),
    }
    with translation.override(language_of_account(account)):
        body = render_to_string("portal/reset_mail.txt", context)
        subject = _("Reset your password for %(name)s") % {"name": portal_title}
    from_email = formataddr((sender, settings.DEFAULT_FROM_EMAIL))
    send_mail(subject, body, from_email, [account.email])
    return True
