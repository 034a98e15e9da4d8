"""Chat widgets in the client portal (the client's operators): the list, a widget's page with its embed
snippet, its identity secret shown once (made or rotated), delete. The visitors' end is
chat/visitor_consumers.py."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from chat import widgets
from chat.models import ChatWidget
from chat.widget_forms import ChatWidgetForm
from queues.models import Queue
from tenants.models import Role
from tenants.views.common import confirm_then, own_client, paginated, role_required, service_call

SECRET_ONCE = "chat_widget_secret"  # session key: (widget id, secret) to show on the next page, once
EDITABLE = ("name", "origins", "title", "greeting", "colour", "offline_email", "max_sessions_per_visitor",
            "messages_per_minute", "max_message_length", "enabled")  # fmt: skip


@role_required(Role.CLIENT)
def chat_widget_list(request: HttpRequest) -> HttpResponse:
    rows = ChatWidget.objects.restrict(request.user).select_related("queue")
    context = {"title": _("Chat widgets"), **paginated(request, rows, ["name"])}
    return render(request, "chat/widget_list.html", context)


@role_required(Role.CLIENT)
def chat_widget_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    widget = ChatWidget.objects.get_for(request.user, pk=pk) if pk is not None else None
    initial = {name: getattr(widget, name) for name in EDITABLE} | {"queue": widget.queue_id} if widget else None
    queues = Queue.objects.restrict(request.user).order_by("name")
    form = ChatWidgetForm(request.POST or None, initial=initial, queues=queues)
    if request.method == "POST" and form.is_valid():
        with service_call(request, form) as call:
            saved = widgets.widget_save(actor=request.user, client=own_client(request), widget=widget,
                                        **form.service_fields())  # fmt: skip
        if call.ok:
            messages.success(request, _("Chat widget %(name)s saved.") % {"name": saved.name})
            if widget is None:
                request.session[SECRET_ONCE] = [saved.pk, saved.identity_secret]
            return redirect("chat_widget_edit", saved.pk)
    secret = None
    once = request.session.pop(SECRET_ONCE, None) if widget else None
    if once and once[0] == widget.pk:
        secret = once[1]
    title = _("Chat widget %(name)s") % {"name": widget.name} if widget else _("New chat widget")
    snippet = widgets.embed_snippet(widget, request.build_absolute_uri("/")) if widget else ""
    context = {"title": title, "form": form, "submit": _("Save widget"), "cancel_url": reverse("chat_widget_list"),
               "snippet": snippet, "widget": widget, "secret": secret}  # fmt: skip
    return render(request, "chat/widget_form.html", context)


@role_required(Role.CLIENT)
@require_POST
def chat_widget_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    widget = ChatWidget.objects.get_for(request.user, pk=pk)
    with service_call(request) as call:
        secret = widgets.widget_rotate_secret(actor=request.user, client=own_client(request), widget=widget)
    if call.ok:
        request.session[SECRET_ONCE] = [widget.pk, secret]
        messages.success(request, _("A new identity secret: the old one no longer works."))
    return redirect("chat_widget_edit", widget.pk)


@role_required(Role.CLIENT)
def chat_widget_delete(request: HttpRequest, pk: int) -> HttpResponse:
    widget = ChatWidget.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: widgets.widget_delete(actor=request.user, client=own_client(request), widget=widget),
        title=_("Delete chat widget %(name)s") % {"name": widget.name},
        question=_("Delete the chat widget %(name)s? Web sites that show it can no longer open chats.")
        % {"name": widget.name},
        submit=_("Delete widget"),
        done=_("Chat widget %(name)s deleted.") % {"name": widget.name},
        done_url=reverse("chat_widget_list"),
        back_url=reverse("chat_widget_edit", args=[pk]),
    )
