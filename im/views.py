"""Client portal pages for instant messages and presence (the client's users and operators): the chats
(each conversation with its unread count; a new one with colleagues), a conversation (its history paged
backwards, a box to write in; live through /ws/im/ and static/im.js, and without scripts a plain form),
and the colleagues' directory (name, extension, presence, a message button) with one's own presence.
The page names start with `im_` or `colleague_` (the portal's menu marks its entries by them)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from im import presence, selectors, services
from im.models import Conversation
from tenants.errors import PlatformError
from tenants.models import Role
from tenants.views.common import errors_to_form, own_client, role_required

PEOPLE = (Role.CLIENT, Role.USER)


class MessageForm(forms.Form):
    # Only parses: message_send says what is wrong (length, control characters) on the field.
    body = forms.CharField(label=gettext_lazy("Message"), widget=forms.Textarea(attrs={"rows": 3}), strip=False)


class StartForm(MessageForm):
    to = forms.TypedMultipleChoiceField(label=gettext_lazy("Colleagues"), coerce=int,
                                        widget=forms.CheckboxSelectMultiple)  # fmt: skip
    title = forms.CharField(label=gettext_lazy("Title (groups)"), required=False, max_length=200)

    def __init__(self, *args, people: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = [(p["id"], f"{p['name']} {p['extension']}".strip()) for p in people]


class PresenceForm(forms.Form):
    state = forms.ChoiceField(label=gettext_lazy("My presence"),
                              choices=[(c, presence.LABELS[c]) for c in presence.CHOICES])  # fmt: skip


def im_context(request: HttpRequest) -> dict:
    """The unread count in the client portal's menu (its people only)."""
    portal, user = getattr(request, "portal", None), getattr(request, "user", None)
    if portal is None or portal.kind != "client" or user is None or not user.is_authenticated:
        return {}
    if user.role not in PEOPLE:
        return {}
    return {"im_unread": selectors.unread_total(user.pk)}


@role_required(*PEOPLE)
def im_inbox(request: HttpRequest) -> HttpResponse:
    client = own_client(request)
    people = [p for p in presence.colleagues(client) if p["id"] != request.user.pk]
    form = StartForm(request.POST or None, people=people)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():  # (a refused first message keeps no conversation either)
                conversation = services.conversation_start(client=client, actor=request.user,
                                                           to_users=form.cleaned_data["to"],
                                                           title=form.cleaned_data["title"])  # fmt: skip
                services.message_send(client=client, sender=request.user, conversation=conversation,
                                      body=form.cleaned_data["body"])  # fmt: skip
        except ValidationError as error:
            errors_to_form(form, error)
        except PlatformError as error:
            messages.error(request, error.message)
        else:
            return redirect("im_conversation", pk=conversation.pk)
    conversations = selectors.conversations_of(request.user)
    for conversation in conversations:
        conversation.name = selectors.conversation_name(conversation)
    return render(request, "im/inbox.html", {"title": _("Chat"), "conversations": conversations, "form": form})


@role_required(*PEOPLE)
def im_conversation(request: HttpRequest, pk: int) -> HttpResponse:
    client = own_client(request)
    conversation = Conversation.objects.get_for(request.user, pk=pk)
    form = MessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.message_send(client=client, sender=request.user, conversation=conversation,
                                  body=form.cleaned_data["body"])  # fmt: skip
        except ValidationError as error:
            errors_to_form(form, error)
        except PlatformError as error:
            messages.error(request, error.message)
        else:
            return redirect("im_conversation", pk=pk)
    before = services.row_id(request.GET.get("before", "")) if request.GET.get("before", "").isdigit() else None
    page = selectors.history(conversation, before=before)
    older = page[0].pk if page and selectors.history(conversation, before=page[0].pk, limit=1) else None
    if before is None:
        services.conversation_read(client=client, actor=request.user, conversation=conversation)
    selectors.conversation_view(request.user, conversation)
    names = selectors.senders(page)
    for message in page:
        message.sender_name = names.get(message.sender_id, "—")
    name = selectors.conversation_name(conversation)
    return render(request, "im/conversation.html", {
        "title": name, "conversation": conversation, "page": page, "older": older, "form": form,
        "newer": before is not None,
    })  # fmt: skip


@require_POST
@role_required(*PEOPLE)
def im_start(request: HttpRequest) -> HttpResponse:
    """The message button of the colleagues' directory: the one-to-one with that colleague."""
    client = own_client(request)
    to = services.row_id(request.POST.get("to"))
    if to is None:
        raise Http404("No such colleague.")
    try:
        conversation = services.conversation_start(client=client, actor=request.user, to_users=[to])
    except ValidationError as error:
        raise Http404("No such colleague.") from error
    return redirect("im_conversation", pk=conversation.pk)


@role_required(*PEOPLE)
def colleague_list(request: HttpRequest) -> HttpResponse:
    client = own_client(request)
    form = PresenceForm(request.POST or None, initial={"state": presence.manual_states(client).get(request.user.pk)})
    if request.method == "POST" and form.is_valid():
        try:
            presence.presence_set(client=client, actor=request.user, state=form.cleaned_data["state"])
        except ValidationError as error:
            errors_to_form(form, error)
        except PlatformError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Your presence is saved."))
            return redirect("colleague_list")
    people = presence.colleagues(client)
    for person in people:
        person["label"] = presence.LABELS[person["presence"]]
    labels = {state: str(label) for state, label in presence.LABELS.items()}
    return render(request, "im/colleagues.html", {"title": _("Colleagues"), "people": people, "form": form,
                                                  "labels": labels})  # fmt: skip
