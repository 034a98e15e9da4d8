"""Password reset by e-mail, end to end through a real SMTP server: the link arrives, is on the
portal's own domain, works once and not after it expired; unknown addresses get the same answer and
no mail; another portal's accounts are not reset here; requests are throttled."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from freezegun import freeze_time

from tenants.models import AuditEvent
from tenants.views.reset import SENT
from tests.conftest import PASSWORD
from tests.mailbox import mailbox_fixture, smtp_server_fixture  # noqa: F401 (the mailbox fixtures)
from tests.pages import errors_above_form, field_error, messages_of
from tests.waiting import wait_for

NEW_PASSWORD = "a-new-password-42"


def _browser(host: str, address: str = "198.51.100.20") -> HttpClient:
    return HttpClient(HTTP_HOST=host, REMOTE_ADDR=address)


def _ask(http: HttpClient, email: str):
    return http.post("/login/reset/", {"email": email}, follow=True)


def _link_in(message) -> str:
    return re.search(r"(https?://\S+/login/reset/\S+/)", message.get_content()).group(1)


def _open(link: str, host: str):
    """Follow a mailed link on the host it names (the test client takes the path)."""
    http = _browser(host)
    path = re.sub(r"^https?://[^/]+", "", link)
    return http, http.get(path, follow=True)


def _signs_in(host: str, email: str, password: str) -> bool:
    response = _browser(host, "198.51.100.99").post("/login/", {"username": email, "password": password})
    return "_auth_user_id" in response.wsgi_request.session


def test_reset_link_arrives_on_the_portals_domain_and_works_once(world, mailbox):
    account, host = world.user_a1, world.host_of(world.user_a1)
    answer = _ask(_browser(host), account.email.upper())  # addresses are matched whatever the case
    assert answer.status_code == 200 and SENT in messages_of(answer)
    assert len(mailbox.messages) == 1
    mail = mailbox.messages[0]
    assert mail["To"] == account.email
    assert "Brand A" in mail["From"] and "Client a1" in mail["Subject"]
    link = _link_in(mail)
    assert link.startswith(f"http://{host}/login/reset/"), link

    http, form = _open(link, host)
    assert "new_password1" in form.content.decode()
    assert "/set-password/" in form.redirect_chain[-1][0], "the token leaves the address bar at once"
    weak = http.post(form.redirect_chain[-1][0], {"new_password1": "short", "new_password2": "short"})
    assert field_error(weak, "new_password2"), "the password rules apply"
    done = http.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
                     follow=True)  # fmt: skip
    assert "Your new password is set: sign in with it." in messages_of(done)
    assert _signs_in(host, account.email, NEW_PASSWORD) and not _signs_in(host, account.email, PASSWORD)
    assert AuditEvent.objects.filter(action="account.password_reset", actor=account).exists()

    _, again = _open(link, host)
    assert "This link does not work" in errors_above_form(again) and "new_password1" not in again.content.decode()


def test_an_expired_link_is_refused(world, mailbox):
    account, host = world.client_a1_op, world.host_of(world.client_a1_op)
    _ask(_browser(host), account.email)
    link = _link_in(mailbox.messages[0])
    with freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)):
        _, late = _open(link, host)
    assert "This link does not work" in errors_above_form(late)
    assert _signs_in(host, account.email, PASSWORD)


def test_unknown_addresses_get_the_same_answer_and_no_mail(world, mailbox):
    host = world.host_of(world.user_a1)
    known = _ask(_browser(host), world.user_a1.email)
    unknown = _ask(_browser(host), "nobody@client-a1.example")
    assert len(mailbox.messages) == 1 and mailbox.messages[0]["To"] == world.user_a1.email
    assert known.redirect_chain == unknown.redirect_chain
    assert messages_of(known) == messages_of(unknown) == [SENT]


@pytest.mark.parametrize(
    "account_name, host_of_name",
    [
        ("user_a1", "client_b1_op"),  # client A's account on brand B's client's domain
        ("user_a1", "brand_b_op"),  # on brand B's domain
        ("user_a1", "brand_a_op"),  # even on its own brand's domain: the client's portal is its own
        ("brand_a_op", "brand_b_op"),  # brand A's operator on brand B's domain
        ("god", "brand_a_op"),
    ],
)
def test_an_account_of_another_portal_is_not_reset_through_this_one(world, mailbox, account_name, host_of_name):
    account, elsewhere = getattr(world, account_name), world.host_of(getattr(world, host_of_name))
    answer = _ask(_browser(elsewhere), account.email)
    assert messages_of(answer) == [SENT] and mailbox.messages == []
    # A link made for the account (mailed on its own portal) does not open on another portal either.
    _ask(_browser(world.host_of(account)), account.email)
    link = _link_in(mailbox.messages[0])
    _, there = _open(link, elsewhere)
    assert "This link does not work" in errors_above_form(there)
    _, home = _open(link, world.host_of(account))
    assert "new_password1" in home.content.decode()


def test_requests_are_throttled_per_typed_address_whether_it_exists_or_not(world, mailbox, settings):
    settings.OCX_PASSWORD_RESET = {"account_failures": 2, "address_failures": 5, "window": 3600, "lockout": 3600}
    host = world.host_of(world.user_a1)
    for email in (world.user_a1.email, "nobody@client-a1.example"):
        for n in range(2):
            assert _ask(_browser(host, f"198.51.100.{n + 1}"), email).status_code == 200
        refused = _browser(host, "198.51.100.9").post("/login/reset/", {"email": email})
        assert refused.status_code == 429
        assert "Too many password reset requests: try again in 60 minutes." in errors_above_form(refused)
    assert len(mailbox.messages) == 2, "two mails to the account, then none"
    # And per caller's address, whatever the addresses typed.
    for n in range(5):
        assert _ask(_browser(host, "203.0.113.50"), f"someone{n}@example.com").status_code == 200
    assert _browser(host, "203.0.113.50").post("/login/reset/", {"email": "x@example.com"}).status_code == 429


def test_the_sign_in_page_offers_the_reset(world):
    for account in (world.god, world.brand_a_op, world.user_a1):
        page = _browser(world.host_of(account)).get("/login/")
        assert 'href="/login/reset/"' in page.content.decode(), account.role


def test_a_celery_worker_sends_the_mail(world, smtp_server):
    """As in production: the page queues the mail, a worker process writes and sends it over SMTP."""
    box, port = smtp_server
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--queues",
         settings.CELERY_TASK_DEFAULT_QUEUE, "--without-heartbeat", "--without-gossip", "--without-mingle",
         "--loglevel", "WARNING"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        account, host = world.brand_b_op, world.host_of(world.brand_b_op)
        assert messages_of(_ask(_browser(host), account.email)) == [SENT]
        mail = wait_for(lambda: [m for m in box.messages if m["To"] == account.email], "the worker's mail", 60)[0]
        assert "Brand B" in mail["From"]
        _, form = _open(_link_in(mail), host)
        assert "new_password1" in form.content.decode()
    finally:
        worker.terminate()
        worker.wait(timeout=20)
