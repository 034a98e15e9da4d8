"""Web chat, in the client's own schema. A visitor of the client's web site opens a conversation from a
chat widget; it waits in the widget's queue with the callers (queues/state.py: one line, one strategy,
one agent state for calls and chats) until an agent accepts it in the portal's chat console; its
messages are kept here, and its end leaves a record (records.Cdr, service "chat", with a "queue" leg)
so the queues' statistics count calls and chats alike.

Who does what:
- the widget, its public socket and its HTTP fallback, limits, signed identity, offline messages and
  transcripts: chat/visitors.py, chat/consumers.py (visitor side), static/chat_widget.js;
- offering, accepting, transferring and closing, the console and canned answers: chat/dispatch.py,
  chat/services.py, chat/consumers.py (agent side), the portal pages.
"""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Role, hex_colour
from tenants.scoping import RestrictedQuerySet


class ClientOperatorsQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """The client's operators keep these (the schema holds one client only)."""
        return self.all() if actor.role == Role.CLIENT else self.none()


class ChatWidget(models.Model):
    """A chat window on the client's own web site: which queue answers it, which sites may open it, its
    look and the limits that keep one visitor from flooding the client's agents."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    queue = models.ForeignKey("queues.Queue", on_delete=models.PROTECT, related_name="chat_widgets",
                              verbose_name=_("queue"))  # fmt: skip
    # The web sites allowed to open it: exact origins (scheme, host, port), one a line.
    origins = models.TextField(_("allowed origins"), blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    key = models.CharField(max_length=40, unique=True)  # public: in the embed snippet
    # Signs a logged-in visitor's identity on the client's own site (HMAC-SHA256); never shown again.
    identity_secret = models.CharField(max_length=64)
    title = models.CharField(_("title"), max_length=60, blank=True)
    greeting = models.CharField(_("greeting"), max_length=300, blank=True)
    colour = models.CharField(_("colour"), max_length=7, blank=True, validators=[hex_colour],
                              help_text=_("Empty: the portal's colour."))  # fmt: skip
    offline_email = models.EmailField(
        _("offline messages to"), blank=True, help_text=_("Where a message left when nobody is available is sent.")
    )
    max_sessions_per_visitor = models.PositiveSmallIntegerField(
        _("chats per visitor"), default=2, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    messages_per_minute = models.PositiveSmallIntegerField(
        _("messages per minute"), default=20, validators=[MinValueValidator(1), MaxValueValidator(600)]
    )
    max_message_length = models.PositiveSmallIntegerField(
        _("longest message"), default=2000, validators=[MinValueValidator(1), MaxValueValidator(10000)]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClientOperatorsQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def origin_list(self) -> list[str]:
        return [line.strip() for line in self.origins.splitlines() if line.strip()]


class ConversationQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """Operators see every chat of their client; a user the chats they answered."""
        if actor.role == Role.CLIENT:
            return self.all()
        if actor.role == Role.USER:
            return self.filter(agent_id=actor.pk)
        return self.none()


class Conversation(models.Model):
    """One visitor's chat: waiting in a queue, then with an agent, then closed (or an offline message
    left when nobody was there to answer)."""

    class State(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        ACTIVE = "active", _("With an agent")
        CLOSED = "closed", _("Closed")

    class Outcome(models.TextChoices):
        ANSWERED = "answered", _("Answered")
        ABANDONED = "abandoned", _("Left while waiting")
        TIMEOUT = "timeout", _("Nobody answered in time")
        FULL = "full", _("The queue's line was full")
        OFFLINE = "offline", _("Offline message")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    widget = models.ForeignKey(ChatWidget, on_delete=models.SET_NULL, null=True, related_name="conversations")
    queue = models.ForeignKey("queues.Queue", on_delete=models.SET_NULL, null=True, related_name="conversations")
    state = models.CharField(max_length=10, choices=State.choices, default=State.WAITING)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    # The visitor: the widget keeps a random secret to come back to the chat (its SHA-256 here).
    visitor_key = models.CharField(max_length=64, db_index=True)
    visitor_name = models.CharField(_("name"), max_length=100, blank=True)
    visitor_email = models.EmailField(_("e-mail"), blank=True)
    visitor_ref = models.CharField(max_length=100, blank=True)  # the client site's id of a signed visitor
    verified = models.BooleanField(default=False)  # identity signed by the client's site
    origin = models.CharField(max_length=300, blank=True)
    page = models.CharField(max_length=500, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    # The account lives in the public schema: Django must not cascade across schemas (a user's removal
    # would update this schema's table from the public one), so the id stays, with agent_name.
    agent = models.ForeignKey("tenants.User", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
                              related_name="+")  # fmt: skip
    agent_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=10, blank=True)  # visitor, agent or system
    transcript_to = models.EmailField(blank=True)
    # The queue leg now (chat/agents.py): since when it waits in its queue, the offers made there
    # ({agent, result, at}); the legs of queues it left by a transfer. The record's "queue" legs.
    joined_at = models.DateTimeField(null=True, blank=True)
    offers = models.JSONField(default=list, blank=True)
    legs = models.JSONField(default=list, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "created_at"], name="chat_conv_state_created")]

    def __str__(self) -> str:
        return f"chat {self.uuid}"


class Message(models.Model):
    """One line of a chat, said by the visitor, an agent or the platform (joined, transferred, closed)."""

    class Sender(models.TextChoices):
        VISITOR = "visitor", _("Visitor")
        AGENT = "agent", _("Agent")
        SYSTEM = "system", _("System")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    sender = models.CharField(max_length=10, choices=Sender.choices)
    # (the public schema's user: see Conversation.agent)
    author = models.ForeignKey(
        "tenants.User", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    author_name = models.CharField(max_length=150, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "id"], name="chat_message_conversation")]

    def __str__(self) -> str:
        return f"{self.sender}: {self.body[:40]}"


class CannedAnswer(models.Model):
    """A ready answer the client's agents insert in a chat with a click or its shortcut."""

    title = models.CharField(_("title"), max_length=60, unique=True)
    shortcut = models.CharField(_("shortcut"), max_length=20, blank=True)
    body = models.TextField(_("text"), max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClientOperatorsQuerySet.as_manager()

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title
