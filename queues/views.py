"""Portal pages for queues. The client's operators: the list, a queue's page (its fields, its members as
rows, every error on its field or row, and each member's state with buttons to log them in or out and
pause them), delete (refused, saying what, while something points at the queue). An agent: their own
queues with buttons (`my_queues`). A queue supervisor: the live calls of their queues' agents, each
with monitor, whisper and barge buttons (`supervision`: their line rings, then joins the call)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from queues import services, supervision
from queues.forms import MemberRows, PauseForm, QueueForm
from queues.models import Agent, Queue
from telephony.models import Extension
from tenants.errors import PlatformError
from tenants.models import Role
from tenants.views.common import confirm_then, own_client, paginated, role_required


@role_required(Role.CLIENT)
def queue_list(request: HttpRequest) -> HttpResponse:
    queues = Queue.objects.restrict(request.user).prefetch_related("members")
    context = {"title": _("Queues"), **paginated(request, queues, ["name"])}
    return render(request, "queues/queue_list.html", context)


@role_required(Role.CLIENT)
def queue_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    queue = Queue.objects.get_for(request.user, pk=pk) if pk is not None else None
    extensions = list(Extension.objects.restrict(request.user))
    form = QueueForm(request.POST or None, queue=queue)
    members = list(queue.members.select_related("extension")) if queue else []
    initial = [{"extension": m.extension.number, "penalty": m.penalty, "order": m.order} for m in members]
    rows = MemberRows(request.POST or None, initial=initial, prefix="members", form_kwargs={"extensions": extensions})
    if request.method == "POST" and form.is_valid() and rows.is_valid():
        filled = [row for row in rows.forms if row.filled()]
        try:
            with transaction.atomic():
                saved = services.queue_save(
                    actor=request.user,
                    client=own_client(request),
                    queue=queue,
                    members=[row.cleaned_data for row in filled],
                    **form.values(),
                )
        except ValidationError as error:
            _errors_to_rows(error, form, filled)
        except PlatformError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Queue %(name)s saved.") % {"name": saved.name})
            return redirect("queue_list")
    paused = {a.extension_id: a for a in Agent.objects.filter(paused=True)}
    title = _("Queue %(name)s") % {"name": queue.name} if queue else _("New queue")
    context = {
        "title": title,
        "form": form,
        "rows": rows,
        "queue": queue,
        "agents": [(m, paused.get(m.extension_id)) for m in members],
    }
    return render(request, "queues/queue_form.html", context)


def _errors_to_rows(error: ValidationError, form: QueueForm, filled: list) -> None:
    """Each error on its field: `members.<n>.<field>` on the n-th filled row's field."""
    for name, texts in error.message_dict.items():
        if name.startswith("members."):
            _members, n, field = [*name.split(".", 2), ""][:3]
            row = filled[int(n)] if n.isdigit() and int(n) < len(filled) else None
            if row is not None:
                for text in texts:
                    row.add_error(field if field in row.fields else None, text)
                continue
        for text in texts:
            form.add_error(name if name in form.fields else None, text)


@role_required(Role.CLIENT)
def queue_delete(request: HttpRequest, pk: int) -> HttpResponse:
    queue = Queue.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.queue_delete(actor=request.user, client=own_client(request), queue=queue),
        title=_("Delete queue %(name)s") % {"name": queue.name},
        question=_("Delete the queue %(name)s?") % {"name": queue.name},
        submit=_("Delete queue"),
        done=_("Queue %(name)s deleted.") % {"name": queue.name},
        done_url=reverse("queue_list"),
        back_url=reverse("queue_edit", args=[pk]),
    )


def _act(request: HttpRequest, extension: Extension, queue: Queue | None) -> None:
    """The button pressed (login, logout, pause, unpause) for the agent, with its message."""
    action, client = request.POST.get("action"), own_client(request)
    scope = {"actor": request.user, "client": client, "extension": extension}
    try:
        if action in ("login", "logout"):
            act = services.agent_login if action == "login" else services.agent_logout
            names = act(**scope, queue=queue)
            messages.success(
                request,
                (_("Logged in to: %(queues)s.") if action == "login" else _("Logged out of: %(queues)s."))
                % {"queues": ", ".join(names) or "-"},
            )
        elif action == "pause":
            form = PauseForm(request.POST)
            services.agent_pause(**scope, reason=form.data.get("reason", ""))
            messages.success(request, _("Paused."))
        elif action == "unpause":
            services.agent_unpause(**scope)
            messages.success(request, _("Available again."))
        else:
            raise Http404
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
    except PlatformError as error:
        messages.error(request, error.message)


@role_required(Role.CLIENT)
def queue_agent(request: HttpRequest, pk: int) -> HttpResponse:
    """An operator's button for one member of the queue (POST: extension, action)."""
    queue = Queue.objects.get_for(request.user, pk=pk)
    if request.method != "POST":
        return redirect("queue_edit", pk=pk)
    member = queue.members.filter(extension__number=request.POST.get("extension", "")).first()
    if member is None:
        raise Http404
    _act(request, member.extension, queue if request.POST.get("action") in ("login", "logout") else None)
    return redirect("queue_edit", pk=pk)


@role_required(Role.USER)
def my_queues(request: HttpRequest) -> HttpResponse:
    from chat.agent_views import ChatSettingsForm, chat_settings_initial, chat_settings_save

    extension = Extension.objects.get_for(request.user, account_id=request.user.pk)
    chat_form = None
    if request.method == "POST" and request.POST.get("action") == "chat":
        chat_form = chat_settings_save(request, extension)
        if not chat_form.errors:
            return redirect("my_queues")
    elif request.method == "POST":
        queue = None
        if request.POST.get("queue"):
            pk = request.POST["queue"]
            queue = Queue.objects.filter(pk=int(pk), members__extension=extension).first() if pk.isdigit() else None
            if queue is None:
                raise Http404
        _act(request, extension, queue)
        return redirect("my_queues")
    state = services.agent_states(own_client(request), extension)
    chat_form = chat_form or ChatSettingsForm(initial=chat_settings_initial(extension))
    context = {"title": _("My queues"), "state": state, "pause_form": PauseForm(), "chat_form": chat_form}
    return render(request, "queues/my_queues.html", context)


@role_required(Role.USER)
def supervised(request: HttpRequest) -> HttpResponse:
    """A queue supervisor's page: their queues' agents' live calls; POST call, mode: their line rings,
    then joins the call (another call: 404)."""
    client = own_client(request)
    if request.method == "POST":
        try:
            found = supervision.supervision_start(actor=request.user, client=client,
                                                  call=request.POST.get("call", ""),
                                                  mode=request.POST.get("mode", ""))  # fmt: skip
        except ValidationError as error:
            for text in error.messages:
                messages.error(request, text)
        except PlatformError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("You joined the call of %(agent)s.") % {"agent": found.agent})
        return redirect("queue_supervision")
    calls = supervision.supervised_calls(actor=request.user, client=client)
    return render(request, "queues/supervision.html", {"title": _("Supervision"), "calls": calls})
