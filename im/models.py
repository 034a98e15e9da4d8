"""Instant messages between a client's people, and their chosen presence, in the client's own schema.

A conversation is one-to-one (`direct_key` names its two accounts, so a pair has one) or a small group
(up to MAX_MEMBERS); each member keeps a pointer to the last message they read, which is what their
unread counts are. The accounts live in the public schema: like telephony.Extension, the rows point at
them without cascading across schemas (im.services removes what needs removing)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.scoping import RestrictedQuerySet

MAX_MEMBERS = 20  # a group's people, the one who starts it included
MAX_TITLE = 80


class ConversationQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """A conversation is its members' only: the client's operators do not read their people's."""
        if actor.role not in ("client", "user"):  # (tenants.models.Role's values)
            return self.none()
        return self.filter(members__account_id=actor.pk)


class Conversation(models.Model):
    """Messages among a client's people: two of them (direct) or a named small group."""

    class Kind(models.TextChoices):
        DIRECT = "direct", _("One-to-one")
        GROUP = "group", _("Group")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=MAX_TITLE, blank=True)
    # "<lower account id>:<higher account id>" for a direct conversation (one per pair), else NULL.
    direct_key = models.CharField(max_length=40, unique=True, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = [models.F("last_message_at").desc(nulls_last=True), "-id"]

    def __str__(self) -> str:
        return self.title or f"{self.kind} {self.pk}"


class Member(models.Model):
    """One person in a conversation, with the id of the last message they have read (0: none)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="members")
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    last_read_id = models.BigIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "account"], name="im_member_once")]
        indexes = [models.Index(fields=["account"], name="im_member_account")]

    def __str__(self) -> str:
        return f"{self.account_id} in {self.conversation_id}"


class Message(models.Model):
    """One message of a conversation, as its sender wrote it (plain text: pages escape it), and the way
    it came (the portal, the API, a phone's SIP MESSAGE)."""

    class Via(models.TextChoices):
        PORTAL = "portal", _("Portal")
        API = "api", _("API")
        SIP = "sip", _("Phone")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    body = models.TextField(_("message"))
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.PORTAL)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "id"], name="im_message_history")]

    def __str__(self) -> str:
        return f"{self.conversation_id}/{self.pk}"


class Presence(models.Model):
    """What a person chose to show: available or away. Do-not-disturb is their line's own
    (telephony.Forwarding.dnd, which also sends their calls away): one truth, read from there."""

    class Choice(models.TextChoices):
        AVAILABLE = "available", _("Available")
        AWAY = "away", _("Away")

    account = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    choice = models.CharField(max_length=10, choices=Choice.choices, default=Choice.AVAILABLE)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.account_id} {self.choice}"
