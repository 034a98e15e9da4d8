"""A visitor's commands, whatever carries them (the socket or the HTTP fallback, chat/visitor_consumers.py):
parse, check, call one service of chat/visitors.py, answer with events. Nothing here blocks the event
loop: the services run in threads (sync_to_async, thread_sensitive=False: a slow query of one visitor
never queues the others behind it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from chat import line, visitors
from chat.events import conversation_group, publish_async
from chat.keeper import keeper
from chat.models import ChatWidget, Conversation
from chat.services import message_event
from chat.threads import threaded
from tenants.i18n import visitor_language
from tenants.models import Client

log = logging.getLogger(__name__)
COMMANDS = ("hello", "start", "message", "typing", "close", "transcript", "offline")


def error_event(code: str, message: str, field: str = "") -> dict:
    return {"kind": "error", "code": code, "field": field, "message": message}


def widget_texts() -> dict[str, str]:
    """The widget's own words in the active language (static/chat_widget.js; {n}, {agent} and {email}
    are filled in there)."""
    return {
        "chat": _("Chat"), "end": _("End chat"), "close": _("Close the chat window"), "messages": _("Messages"),
        "name": _("Your name"), "email_optional": _("Your e-mail (optional)"), "email": _("Your e-mail"),
        "message": _("Message"), "start": _("Start chat"), "send": _("Send"), "send_message": _("Send message"),
        "offline": _("Nobody is available now: leave a message and we will answer by e-mail."),
        "your_message": _("Your message"), "transcript": _("E-mail me this chat"),
        "send_transcript": _("Send transcript"), "ended": _("The chat has ended."),
        "answering": _("{agent} is answering you."), "position": _("You are number {n} in line."),
        "typing": _("Typing…"), "passed": _("Your chat is passed to a colleague."),
        "sent": _("Thank you: your message was sent."),
        "transcript_sent": _("The transcript is on its way to {email}."),
        "error": _("Something went wrong."), "unreachable": _("The chat cannot be reached now."),
    }  # fmt: skip


@dataclass
class VisitorSession:
    client: Client
    widget: ChatWidget
    origin: str
    address: str
    secret: str = ""
    visitor: str = ""  # the secret's hash (Conversation.visitor_key)
    conversation: Conversation | None = None
    verified: dict | None = None
    page: str = ""
    held: str = ""  # the conversation uuid the keeper holds for us
    language: str = ""  # what the widget speaks (tenants.i18n.visitor_language)
    joined: set = field(default_factory=set)

    # What the socket does with groups (the HTTP fallback joins none).
    async def follow(self, conversation: Conversation) -> None:
        """The session now serves this conversation."""

    async def handle(self, command) -> list[dict]:
        """The events answering one command (errors included), in the visitor's language (the widget
        sends its browser's with hello, and with each command over HTTP); never raises for bad input."""
        if isinstance(command, dict) and (command.get("language") or not self.language):
            self.language = visitor_language(command.get("language"), self.client)
        with translation.override(self.language or None):
            return await self._handle(command)

    async def _handle(self, command) -> list[dict]:
        if not isinstance(command, dict) or command.get("type") not in COMMANDS:
            return [error_event("invalid", _("Unknown command."))]
        kind = command["type"]
        if kind != "hello" and not self.visitor:
            return [error_event("hello-first", _("Say hello first."))]
        try:
            return await getattr(self, f"on_{kind}")(command)
        except visitors.VisitorError as error:
            return [error_event(error.code, error.message, error.field)]
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                return [error_event("invalid", " ".join(m), name) for name, m in error.message_dict.items()]
            return [error_event("invalid", " ".join(error.messages))]

    async def on_hello(self, command) -> list[dict]:
        secret = command.get("visitor")
        self.secret = secret if visitors.valid_secret(secret) else visitors.new_visitor_secret()
        self.visitor = visitors.visitor_hash(self.secret)
        self.page = str(command.get("page") or "")[:500]
        events = []
        if command.get("identity") is not None:
            try:
                self.verified = visitors.identity_verify(self.widget, command["identity"])
            except visitors.VisitorError as error:
                events.append(error_event(error.code, error.message, "identity"))
        welcome = await threaded(self._welcome)()
        if self.conversation is not None:
            await self.follow(self.conversation)
        return [welcome, *events]

    def _welcome(self) -> dict:
        from django_tenants.utils import tenant_context

        widget = self.widget
        with tenant_context(self.client):
            conversation = visitors.open_conversation(client=self.client, widget=widget, visitor=self.visitor)
            self.conversation = conversation
            view, past = None, []
            if conversation is not None:
                conversation.widget = widget
                place = None
                if conversation.state == Conversation.State.WAITING:
                    place = line.join(client=self.client, conversation=conversation) or None
                view = visitors.conversation_view(conversation, place)
                past = visitors.history(client=self.client, conversation=conversation)
            online = line.anyone_ready(client=self.client, queue=widget.queue)
        return {"kind": "welcome", "visitor": self.secret, "conversation": view, "history": past, "online": online,
                "title": widget.title or widget.name, "greeting": widget.greeting, "colour": widget.colour,
                "verified": self.verified is not None,
                "limits": {"length": widget.max_message_length, "per_minute": widget.messages_per_minute},
                "language": self.language, "texts": widget_texts()}  # fmt: skip

    async def on_start(self, command) -> list[dict]:
        conversation, place = await threaded(visitors.conversation_start)(
            client=self.client, widget=self.widget, visitor=self.visitor, name=command.get("name", ""),
            email=command.get("email", ""), text=command.get("text"), verified=self.verified, origin=self.origin,
            page=self.page, address=self.address,
        )  # fmt: skip
        self.conversation = conversation
        await self.follow(conversation)
        # What happened before this socket joined the conversation's group is read once it has: its first
        # lines, and an agent who took the chat meanwhile (a busy moment: the offer, the accept and the
        # "joined" event can all come before the join).
        past, state, agent = await threaded(_since_start)(self.client, conversation)
        view = visitors.conversation_view(conversation, place or None)
        events = [{"kind": "started", "conversation": view, "history": past}]
        if state != Conversation.State.WAITING:
            event = {"kind": "joined", "agent": agent} if state == Conversation.State.ACTIVE else {"kind": "closed"}
            self.seen_event(event)
            events.append(event)
        return events

    async def on_message(self, command) -> list[dict]:
        if self.conversation is None:
            return [error_event("no-chat", _("Start a chat first."))]
        message = await visitors.visitor_says(client=self.client, widget=self.widget,
                                              conversation=self.conversation, text=command.get("text"))  # fmt: skip
        # (the message comes back through the conversation's group, with its id; kept but not delivered
        # live, Redis away: said back here)
        return [] if message.delivered else [message_event(message)]

    async def on_typing(self, command) -> list[dict]:
        if self.conversation is None or self.conversation.state == Conversation.State.CLOSED:
            return []
        event = {"kind": "typing", "sender": "visitor", "on": bool(command.get("on"))}
        await publish_async(conversation_group(self.client.pk, self.conversation.uuid), event)
        return []

    async def on_close(self, command) -> list[dict]:
        if self.conversation is None:
            return []
        await threaded(visitors.visitor_close)(client=self.client, conversation=self.conversation)
        self.unhold()
        return []  # (the "closed" event comes through the group)

    async def on_transcript(self, command) -> list[dict]:
        conversation = self.conversation
        if conversation is None:
            return [error_event("no-chat", _("Start a chat first."))]
        await threaded(visitors.transcript_request)(client=self.client, conversation=conversation,
                                                     email=command.get("email"))  # fmt: skip
        return [{"kind": "transcript", "email": command.get("email")}]

    async def on_offline(self, command) -> list[dict]:
        await threaded(visitors.offline_message)(
            client=self.client, widget=self.widget, visitor=self.visitor, name=command.get("name", ""),
            email=command.get("email", ""), text=command.get("text"), verified=self.verified, origin=self.origin,
            page=self.page, address=self.address,
        )  # fmt: skip
        return [{"kind": "offline", "kept": True}]

    # The line: a waiting chat is kept fresh by this process while the visitor is here.
    def hold(self, *, grace: float | None = None) -> None:
        c = self.conversation
        if c is None or c.state != Conversation.State.WAITING or c.queue_id is None or self.held:
            return
        self.held = str(c.uuid)
        keeper().hold(client_id=self.client.pk, queue_id=c.queue_id, uuid=self.held)

    def unhold(self, *, forget: bool = True) -> None:
        if self.held:
            (keeper().forget if forget else keeper().release)(self.held)
            self.held = ""

    def seen_event(self, event: dict) -> None:
        """Follow the conversation's state from its group's events (no query per message)."""
        c = self.conversation
        if c is None:
            return
        kind = event.get("kind")
        if kind == "joined":
            c.state, c.agent_name = Conversation.State.ACTIVE, str(event.get("agent") or event.get("name") or "")
            self.unhold()
        elif kind == "closed":
            c.state = Conversation.State.CLOSED
            self.unhold()
        elif kind == "transferred" and event.get("waiting"):
            c.state = Conversation.State.WAITING
            self.hold()


def _since_start(client: Client, conversation: Conversation) -> tuple[list[dict], str, str]:
    """The conversation's lines so far, its state and its agent's name, as PostgreSQL has them now."""
    past = visitors.history(client=client, conversation=conversation)
    with tenant_context(client):
        state, agent = Conversation.objects.filter(pk=conversation.pk).values_list("state", "agent_name").first()
    return past, state, agent
