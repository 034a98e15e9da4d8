"""Webhooks, in the client's own schema: endpoints that receive the client's call events (signed POSTs,
retried; each delivery and its attempts logged), and routing webhooks that a call is sent to (the
destination kind "webhook": the client's server answers where the call goes)."""

from __future__ import annotations

import secrets
import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Role
from tenants.scoping import RestrictedQuerySet

# The events an endpoint may ask for.
EVENTS = ("call.ringing", "call.answered", "call.ended", "call.missed", "queue.joined", "queue.left",
          "voicemail.ready", "recording.ready")  # fmt: skip
MIN_TIMEOUT_MS, MAX_TIMEOUT_MS, DEFAULT_TIMEOUT_MS = 100, 5000, 1500


def new_secret() -> str:
    """A signing secret made by the platform (clients never choose one: no weak secrets)."""
    return "whsec_" + secrets.token_urlsafe(32)


class OperatorsOnly(RestrictedQuerySet):
    def restrict(self, actor):
        """A client's webhooks are its operators' business (the schema holds one client only)."""
        return self.all() if actor.role == Role.CLIENT else self.none()


class Endpoint(models.Model):
    """A URL of the client's that is told of the events it asked for, each POST signed with its secret."""

    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=100, blank=True)
    events = models.JSONField(_("events"), default=list)
    enabled = models.BooleanField(_("enabled"), default=True)
    secret = models.CharField(max_length=80, default=new_secret, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OperatorsOnly.as_manager()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.url


class Delivery(models.Model):
    """One event for one endpoint: the body as first sent (retries and replays send it unchanged) and
    where it stands."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(default=uuid.uuid4)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OperatorsOnly.as_manager()

    class Meta:
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_event_once")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class Attempt(models.Model):
    """One POST of a delivery: when, what the endpoint answered (or the error), how long it took."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    replay = models.BooleanField(default=False)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class RoutingWebhook(models.Model):
    """A destination (kind "webhook", target its id): the call is POSTed to the client's URL, which
    answers a destination; a slow, failed or wrong answer sends the call to the fallback."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(max_length=80, default=new_secret, editable=False)
    timeout_ms = models.PositiveIntegerField(
        _("timeout (ms)"),
        default=DEFAULT_TIMEOUT_MS,
        validators=[MinValueValidator(MIN_TIMEOUT_MS), MaxValueValidator(MAX_TIMEOUT_MS)],
    )
    fallback_kind = models.CharField(max_length=20, blank=True)
    fallback_target = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OperatorsOnly.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
