"""Portal pages of the agents' side of chats. An agent (a user, or an operator with an extension): the
live console (`chat_console`: offers, open chats, send, transfer, close, canned answers; it needs
JavaScript, static/chat_console.js over /ws/chat/). Everyone of the client: the conversations they may
see (operators every one, users those they answered), searched by text said, visitor, agent and days,
each with its transcript (server-rendered, no script needed); operators download them as CSV and
manage canned answers and each agent's chat settings."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.csvio import csv_response
from chat.agents import agent_chat_settings, canned_delete, canned_save
from chat.models import CannedAnswer, Conversation
from chat.selectors import conversation_search, conversations_for, extension_of
from queues.models import Agent, Queue
from telephony.models import Extension
from tenants.dates import zone_named
from tenants.errors import PlatformError
from tenants.models import Role
from tenants.views.common import confirm_then, errors_to_form, own_client, paginated, role_required

EXPORT_COLUMNS = ["id", "uuid", "created_at", "state", "outcome", "queue", "visitor_name", "visitor_email",
                  "visitor_ref", "verified", "page", "agent_name", "answered_at", "first_response_at", "closed_at",
                  "closed_by", "messages", "transcript"]  # fmt: skip
EXPORT_MAX = 10000


@role_required(Role.CLIENT, Role.USER)
def chat_console(request: HttpRequest) -> HttpResponse:
    line = extension_of(request.user)
    context = {"title": _("Chat console"), "line": line, "open_chats": []}
    if line is not None:
        context["open_chats"] = Conversation.objects.filter(state=Conversation.State.ACTIVE, agent_id=request.user.pk)
        context["labels"] = {
            "accept": _("Accept"), "send": _("Send"), "close": _("Close"), "transfer": _("Transfer"),
            "offer": _("Chat offered"), "verified": _("verified"), "typing": _("typing…"), "paused": _("Paused"),
            "available": _("Available"), "pause": _("Pause"), "unpause": _("Unpause"), "to_agent": _("To agent"),
            "to_queue": _("To queue"), "canned": _("Canned answers"), "live": _("Live"),
            "lost": _("Not live: reload the page."), "closed": _("Closed"), "withdrawn": _("Offer withdrawn"),
            "chats": _("Chats open"), "page": _("Page"), "message": _("Message"), "visitor": _("Visitor"),
        }  # fmt: skip
    return render(request, "chat/console.html", context)


class SearchForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Text"), required=False, max_length=200)
    visitor = forms.CharField(label=gettext_lazy("Visitor"), required=False, max_length=100)
    agent = forms.CharField(label=gettext_lazy("Agent"), required=False, max_length=100)
    since = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


def _searched(request: HttpRequest):
    form = SearchForm(request.GET or None)
    rows = conversations_for(request.user)
    if form.is_valid():
        data, zone = form.cleaned_data, zone_named(own_client(request).timezone)

        def moment(day, shift=0):
            if day is None:
                return None
            day = day + dt.timedelta(days=shift)
            return dt.datetime(day.year, day.month, day.day, tzinfo=zone)

        text = {name: data[name].replace("\x00", "") for name in ("q", "visitor", "agent")}
        rows = conversation_search(rows, text=text["q"], visitor=text["visitor"], agent=text["agent"],
                                   since=moment(data["since"]), until=moment(data["until"], 1))  # fmt: skip
    return form, rows


@role_required(Role.CLIENT, Role.USER)
def conversation_list(request: HttpRequest) -> HttpResponse:
    form, rows = _searched(request)
    query = request.GET.urlencode()
    context = {"title": _("Chats"), "form": form, "query": query, **paginated(request, rows, [])}
    return render(request, "chat/conversation_list.html", context)


@role_required(Role.CLIENT, Role.USER)
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = Conversation.objects.get_for(request.user, pk=pk)
    context = {"title": _("Chat with %(name)s") % {"name": conversation.visitor_name or _("a visitor")},
               "conversation": conversation, "lines": conversation.messages.all()}  # fmt: skip
    return render(request, "chat/conversation_detail.html", context)


@role_required(Role.CLIENT)
def conversation_csv(request: HttpRequest) -> HttpResponse:
    """The searched conversations as CSV (formula-like cells neutralised by the CSV writer)."""
    _form, rows = _searched(request)
    rows = rows.prefetch_related("messages")[:EXPORT_MAX]

    def lines():
        for c in rows:
            said = list(c.messages.all())
            transcript = "\n".join(f"[{m.created_at:%H:%M:%S}] {m.author_name or m.get_sender_display()}: {m.body}"
                                   for m in said)  # fmt: skip
            yield {"id": c.pk, "uuid": str(c.uuid), "created_at": c.created_at, "state": c.state, "outcome": c.outcome,
                   "queue": c.queue.name if c.queue else "", "visitor_name": c.visitor_name,
                   "visitor_email": c.visitor_email, "visitor_ref": c.visitor_ref, "verified": c.verified,
                   "page": c.page, "agent_name": c.agent_name, "answered_at": c.answered_at,
                   "first_response_at": c.first_response_at, "closed_at": c.closed_at, "closed_by": c.closed_by,
                   "messages": len(said), "transcript": transcript}  # fmt: skip

    # Read now, in the client's schema (the download streams after the request has left it).
    return csv_response(request, EXPORT_COLUMNS, list(lines()), filename="chats.csv")


class CannedForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=60)
    shortcut = forms.CharField(label=gettext_lazy("Shortcut"), max_length=20, required=False,
                               help_text=gettext_lazy("Typed as /shortcut in a chat."))  # fmt: skip
    body = forms.CharField(label=gettext_lazy("Text"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4}))


@role_required(Role.CLIENT)
def canned_list(request: HttpRequest) -> HttpResponse:
    rows = CannedAnswer.objects.restrict(request.user)
    context = {"title": _("Canned answers"), **paginated(request, rows, ["title", "shortcut", "body"])}
    return render(request, "chat/canned_list.html", context)


@role_required(Role.CLIENT)
def canned_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    item = CannedAnswer.objects.get_for(request.user, pk=pk) if pk is not None else None
    initial = {"title": item.title, "shortcut": item.shortcut, "body": item.body} if item else None
    form = CannedForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = canned_save(actor=request.user, client=own_client(request), canned=item, **form.cleaned_data)
        except ValidationError as error:
            errors_to_form(form, error)
        except PlatformError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Canned answer %(title)s saved.") % {"title": saved.title})
            return redirect("chat_canned_list")
    title = _("Canned answer %(title)s") % {"title": item.title} if item else _("New canned answer")
    return render(request, "chat/canned_form.html", {"title": title, "form": form, "item": item})


@role_required(Role.CLIENT)
def canned_remove(request: HttpRequest, pk: int) -> HttpResponse:
    item = CannedAnswer.objects.get_for(request.user, pk=pk)
    back = reverse("chat_canned_list")
    return confirm_then(request, lambda: canned_delete(actor=request.user, client=own_client(request), canned=item),
                        question=_("Delete the canned answer %(title)s?") % {"title": item.title},
                        submit=_("Delete"), done=_("Canned answer deleted."), done_url=back, back_url=back,
                        title=_("Delete a canned answer"))  # fmt: skip


class ChatSettingsForm(forms.Form):
    chat_limit = forms.IntegerField(label=gettext_lazy("Chats at once"), min_value=0, max_value=20,
                                    help_text=gettext_lazy("0: no chats."))  # fmt: skip
    chats_during_calls = forms.BooleanField(label=gettext_lazy("Chats during calls"), required=False)


def chat_settings_save(request: HttpRequest, extension: Extension) -> ChatSettingsForm:
    """POST of an agent's chat settings (their own page, or an operator's agents page)."""
    form = ChatSettingsForm(request.POST)
    if form.is_valid():
        try:
            agent_chat_settings(actor=request.user, client=own_client(request), extension=extension,
                                **form.cleaned_data)  # fmt: skip
        except ValidationError as error:
            errors_to_form(form, error)
        except PlatformError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Chat settings of %(number)s saved.") % {"number": extension.number})
    return form


def chat_settings_initial(extension: Extension) -> dict:
    agent = Agent.objects.filter(extension=extension).first()
    return {
        "chat_limit": agent.chat_limit if agent else 2,
        "chats_during_calls": bool(agent and agent.chats_during_calls),
    }


@role_required(Role.CLIENT)
def chat_agents(request: HttpRequest) -> HttpResponse:
    """Every agent's chat settings (the members of the client's queues)."""
    lines = Extension.objects.restrict(request.user).filter(queue_memberships__isnull=False).distinct()
    if request.method == "POST":
        pk = request.POST.get("extension", "")
        line = Extension.objects.get_for(request.user, pk=int(pk) if pk.isdigit() else 0)
        form = chat_settings_save(request, line)
        if form.errors:
            for errors in form.errors.values():
                messages.error(request, f"{line.number}: " + " ".join(errors))
        return redirect("chat_agents")
    agents = {a.extension_id: a for a in Agent.objects.all()}
    rows = [(line, agents.get(line.pk)) for line in lines.order_by("number")]
    return render(request, "chat/agents.html", {"title": _("Chat agents"), "rows": rows,
                                                "queues": Queue.objects.exists()})  # fmt: skip
