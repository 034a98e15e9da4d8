"""Chat widgets, kept by the client's operators (portal and API): a name, the queue that answers, the
web sites allowed to open it (exact origins), its look, the address offline messages go to, its
limits, on or off. A widget gets a public key (in the embed snippet) and an identity secret, with
which the client's site signs its logged-in visitors (chat/visitors.py); the secret is shown once,
when made or rotated, never again."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from chat.models import ChatWidget
from queues.models import Queue
from telephony.widgets import clean_origins, embed_tag
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.models import Client, Role, User

FIELDS = ("name", "queue", "origins", "enabled", "title", "greeting", "colour", "offline_email",
          "max_sessions_per_visitor", "messages_per_minute", "max_message_length")  # fmt: skip


def _require_operator(actor: User, client: Client) -> None:
    if actor.role != Role.CLIENT or actor.client_id != client.pk:
        raise NotAllowed(_("Only the client's operators manage its chat widgets."))


@transaction.atomic
def widget_save(*, actor: User, client: Client, widget: ChatWidget | None = None, **fields) -> ChatWidget:
    """Create a chat widget (widget None: it gets its key and identity secret) or change one (the fields
    given). `queue` is a queue or its id. Every bad field is a field error naming it."""
    _require_operator(actor, client)
    with tenant_context(client):
        refused = set(fields) - set(FIELDS)
        if refused:
            raise ValidationError({name: _("You may not change this field.") for name in sorted(refused)})
        item = widget or ChatWidget(key=secrets.token_urlsafe(24), identity_secret=secrets.token_hex(32))
        errors: dict[str, list[str]] = {}
        for name, value in fields.items():
            if isinstance(value, str) and "\x00" in value:
                errors[name] = [_("Must not contain NUL characters.")]
            elif name == "queue":
                queue_id = value.pk if isinstance(value, Queue) else value
                queue = Queue.objects.filter(pk=queue_id).first() if isinstance(queue_id, int) else None
                if queue is None:
                    errors["queue"] = [_("Choose one of your queues.")]
                else:
                    item.queue = queue
            elif name == "origins":
                item.origins, problems = clean_origins(value)
                if problems:
                    errors["origins"] = problems
            else:
                setattr(item, name, value.strip() if isinstance(value, str) else value)
        if item.queue_id is None and "queue" not in errors:
            errors["queue"] = [_("Choose the queue that answers the chats.")]
        if "name" not in errors and ChatWidget.objects.filter(name=item.name).exclude(pk=item.pk).exists():
            errors["name"] = [_("A chat widget named %(name)s exists already.") % {"name": item.name}]
        try:
            item.full_clean(exclude=[*errors, "queue"], validate_unique=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(messages)
        if errors:
            raise ValidationError(errors)
        created = item.pk is None
        item.save()
        audit(actor, "chat_widget.create" if created else "chat_widget.update", item, client=client,
              fields=sorted(fields))  # fmt: skip
    return item


@transaction.atomic
def widget_rotate_secret(*, actor: User, client: Client, widget: ChatWidget) -> str:
    """A new identity secret (the old one stops working at once); returned to be shown once."""
    _require_operator(actor, client)
    with tenant_context(client):
        widget.identity_secret = secrets.token_hex(32)
        widget.save(update_fields=["identity_secret"])
        audit(actor, "chat_widget.rotate_secret", widget, client=client)
    return widget.identity_secret


@transaction.atomic
def widget_delete(*, actor: User, client: Client, widget: ChatWidget) -> None:
    _require_operator(actor, client)
    with tenant_context(client):
        audit(actor, "chat_widget.delete", widget, client=client, name=widget.name)
        widget.delete()


def embed_snippet(widget: ChatWidget, base_url: str) -> str:
    """The tag a client puts on its web site: the platform's script, on the client's portal host."""
    return embed_tag(base_url, "chat_widget.js", "data-key", widget.key)
