"""A real SMTP server for tests (aiosmtpd in a thread): the platform sends through Django's SMTP
backend to it, and tests read what arrived."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from config.celeryconf import app as celery_app


class Mailbox:
    """Keeps every message the server accepted."""

    def __init__(self):
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """An SMTP server on a free port while the block runs: (its mailbox, its port)."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


@pytest.fixture(name="smtp_server")
def smtp_server_fixture():
    """An SMTP server on a free port: (its mailbox, its port)."""
    with smtp_server() as found:
        yield found


@pytest.fixture(name="mailbox")
def mailbox_fixture(settings, smtp_server):
    """An SMTP server that Django's mail settings point at; Celery tasks run in the test (eagerly)."""
    box, port = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield box
    finally:
        celery_app.conf.task_always_eager = eager
