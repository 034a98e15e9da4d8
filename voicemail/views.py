"""Client portal pages for voicemail. A user sees their own box: its messages by folder (caller,
time, length, heard), each with an audio player that seeks (the file served in the user's scope with
byte ranges, tenants/views/files.py), marked heard or not, moved to another folder, deleted; its
greetings (listen, upload any audio file, remove: back to the platform's prompt), PIN and mail
options. The client's operators see every box of the client, make, change and delete shared boxes,
change any box's settings and set the client's voicemail options.

Rows come through `restrict(actor)` (voicemail/models.py): another user's box or message is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext, pgettext_lazy
from django.views.decorators.http import require_POST

from tenants.models import Role
from tenants.views.common import confirm_then, form_valid, own_client, role_required, service_call
from tenants.views.files import ranged_file
from voicemail import services
from voicemail.forms import BoxForm, GreetingForm, OptionsForm, box_fields
from voicemail.models import GREETINGS, Mailbox, Message, Options

MEMBERS = (Role.CLIENT, Role.USER)
GREETING_NAMES = {"unavailable": pgettext_lazy("voicemail greeting", "Unavailable"),
                  "busy": pgettext_lazy("voicemail greeting", "Busy"),
                  "name": pgettext_lazy("voicemail greeting", "Recorded name")}  # fmt: skip


def _folder_name(folder: str) -> str:
    """A folder as the page says it: the two every box has in the reader's language, the user's own as named."""
    if folder == Message.NEW:
        return pgettext("voicemail folder", "new")
    if folder == Message.SAVED:
        return pgettext("voicemail folder", "saved")
    return folder


def _folder_typed(typed: str) -> str:
    """The folder a person typed: the name of new or saved in their language is that folder."""
    for folder in (Message.NEW, Message.SAVED):
        if typed.strip().casefold() == _folder_name(folder).casefold():
            return folder
    return typed


def _greeting_texts(kind: str) -> dict[str, str]:
    """The upload page's title (with %(box)s), its message and the removal's title of a `kind` greeting,
    whole sentences in the reader's language."""
    return {
        "unavailable": {"upload": _("Upload the unavailable greeting of box %(box)s"),
                        "uploaded": _("Unavailable greeting uploaded."),
                        "remove": _("Remove the unavailable greeting")},
        "busy": {"upload": _("Upload the busy greeting of box %(box)s"), "uploaded": _("Busy greeting uploaded."),
                 "remove": _("Remove the busy greeting")},
        "name": {"upload": _("Upload the recorded name of box %(box)s"), "uploaded": _("Recorded name uploaded."),
                 "remove": _("Remove the recorded name")},
    }[kind]  # fmt: skip


def _counted(boxes):
    return boxes.annotate(new=Count("messages", filter=Q(messages__heard=False)), total=Count("messages")).order_by(
        "number"
    )


@role_required(*MEMBERS)
def box_list(request: HttpRequest) -> HttpResponse:
    """An operator's list of the client's boxes; a user goes straight to their own box."""
    boxes = _counted(Mailbox.objects.restrict(request.user).select_related("extension__account"))
    if request.user.role == Role.USER:  # their own box's page, unless they share boxes too
        mine = list(boxes)
        if not mine:
            raise Http404(_("You have no voicemail box (no phone line)."))
        if len(mine) == 1:
            return _box_page(request, mine[0])
        return render(request, "voicemail/box_list.html", {"title": _("My voicemail"), "rows": mine})
    context = {"title": _("Voicemail"), "rows": boxes, "options": Options.current()}
    return render(request, "voicemail/box_list.html", context)


@role_required(*MEMBERS)
def box_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A box's messages in one folder (?folder=, new by default), its greetings and settings' links."""
    return _box_page(request, _box(request, pk))


def _box_page(request: HttpRequest, box: Mailbox) -> HttpResponse:
    folders = list(box.messages.values_list("folder", flat=True).distinct())
    folder = request.GET.get("folder", Message.NEW)[:40]
    rows = box.messages.filter(folder=folder)
    context = {
        "title": _("Voicemail box %(box)s") % {"box": box}, "box": box, "rows": rows, "folder": folder,
        "folders": [(name, _folder_name(name)) for name in sorted({Message.NEW, Message.SAVED, *folders},
                    key=lambda f: (f != Message.NEW, f != Message.SAVED, f))],
        "greetings": [(kind, GREETING_NAMES[kind], box.has_greeting(kind)) for kind in GREETINGS],
        "full": box.messages.count() >= box.max_messages, "count": box.messages.count(),
    }  # fmt: skip
    response = render(request, "voicemail/box_detail.html", context)
    add_never_cache_headers(response)
    return response


def _box(request: HttpRequest, pk: int) -> Mailbox:
    return Mailbox.objects.select_related("extension__account").get_for(request.user, pk=pk)


def _handled(request: HttpRequest, pk: int) -> Mailbox:
    """A box whose settings and greetings the actor changes: an operator any, a user their own (a shared
    box's members hear its messages, its operators set it up)."""
    box = _box(request, pk)
    if request.user.role == Role.USER and box.extension_id is None:
        raise Http404(_("A shared box's settings are its operators'."))
    return box


def _message(request: HttpRequest, pk: int) -> Message:
    return Message.objects.select_related("mailbox").get_for(request.user, pk=pk)


@role_required(*MEMBERS)
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One message with its player; POST `action`: heard, unheard, move (with `folder`) or delete."""
    message = _message(request, pk)
    back = reverse("vm_box", args=[message.mailbox_id]) + f"?folder={message.folder}"
    if request.method == "POST":
        action = request.POST.get("action", "")
        kwargs = {"actor": request.user, "client": own_client(request), "message": message}
        with service_call(request) as call:
            if action in ("heard", "unheard"):
                services.message_mark(**kwargs, heard=action == "heard")
                done = _("Message marked heard.") if action == "heard" else _("Message marked unheard.")
            elif action == "move":
                services.message_move(**kwargs, folder=_folder_typed(request.POST.get("folder", "")))
                done = _("Message moved to %(folder)s.") % {"folder": _folder_name(message.folder)}
            elif action == "delete":
                services.message_delete(**kwargs)
                done = _("Message deleted.")
            else:
                raise Http404(_("No such action."))
        if call.ok:
            messages.success(request, done)
        return redirect(back)
    caller = message.caller_name or message.caller_number or _("an unknown caller")
    context = {"title": _("Message from %(caller)s") % {"caller": caller}, "message": message, "back": back,
               "folder": _folder_name(message.folder),
               "move_to": _folder_name(Message.SAVED if message.folder == Message.NEW else message.folder)}  # fmt: skip
    response = render(request, "voicemail/message_detail.html", context)
    add_never_cache_headers(response)
    return response


@role_required(*MEMBERS)
def message_audio(request: HttpRequest, pk: int) -> HttpResponse:
    """A message's WAV for the player (in the actor's scope; byte ranges for seeking)."""
    message = _message(request, pk)
    response = ranged_file(request, message.path, "audio/wav")
    response["Cache-Control"] = "private, no-cache"
    return response


@role_required(*MEMBERS)
def greeting_audio(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    box = _box(request, pk)
    if kind not in GREETINGS or not box.has_greeting(kind):
        raise Http404(_("No such greeting."))
    response = ranged_file(request, box.greeting(kind), "audio/wav")
    response["Cache-Control"] = "private, no-cache"
    return response


@role_required(*MEMBERS)
def greeting_upload(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    box = _handled(request, pk)
    if kind not in GREETINGS:
        raise Http404(_("No such greeting."))
    form = GreetingForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with service_call(request, form) as call:
            services.mailbox_greeting_upload(actor=request.user, client=own_client(request), mailbox=box, kind=kind,
                                             upload=form.cleaned_data["audio"])  # fmt: skip
        if call.ok:
            messages.success(request, _greeting_texts(kind)["uploaded"])
            return redirect("vm_box", box.pk)
    context = {"title": _greeting_texts(kind)["upload"] % {"box": box}, "form": form, "submit": _("Upload"),
               "cancel_url": reverse("vm_box", args=[box.pk])}  # fmt: skip
    return render(request, "portal/form_page.html", context)


@role_required(*MEMBERS)
def greeting_remove(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    box = _handled(request, pk)
    if kind not in GREETINGS or not box.has_greeting(kind):
        raise Http404(_("No such greeting."))
    back = reverse("vm_box", args=[box.pk])
    return confirm_then(
        request,
        lambda: services.mailbox_greeting_remove(
            actor=request.user, client=own_client(request), mailbox=box, kind=kind
        ),
        title=_greeting_texts(kind)["remove"],
        question=_("Remove this greeting? Callers hear the platform's own prompt instead."),
        submit=_("Remove greeting"),
        done=_("Greeting removed."),
        done_url=back,
        back_url=back,
    )


@role_required(*MEMBERS)
def box_settings(request: HttpRequest, pk: int) -> HttpResponse:
    """A box's settings: an operator's every field, a user's PIN, operator destination and mail."""
    box = _handled(request, pk)
    fields = box_fields(request.user.role == Role.CLIENT)
    return _box_form(request, box, fields, title=_("Settings of voicemail box %(box)s") % {"box": box},
                     back=reverse("vm_box", args=[box.pk]))  # fmt: skip


@role_required(Role.CLIENT)
def box_create(request: HttpRequest) -> HttpResponse:
    """A shared box (sales, support...): number, name, PIN, limits, operator, mail."""
    return _box_form(request, None, box_fields(True), title=_("New shared voicemail box"), back=reverse("vm_list"))


def _box_form(request: HttpRequest, box: Mailbox | None, fields, *, title: str, back: str) -> HttpResponse:
    form = BoxForm(request.POST or None, fields=fields, mailbox=box)
    client = own_client(request)

    def check(data: dict) -> None:  # the service's checks on what the form accepted (form_valid)
        data = {k: v for k, v in data.items() if k != "pin" or v}
        services.mailbox_save(actor=request.user, client=client, mailbox=_fresh(box), **data)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            saved = services.mailbox_save(actor=request.user, client=client, mailbox=box, **form.changes())
        if call.ok:
            messages.success(request, _("Voicemail box %(box)s saved.") % {"box": saved})
            return redirect("vm_box", saved.pk)
    context = {"title": title, "form": form, "submit": _("Save"), "cancel_url": back}
    return render(request, "portal/form_page.html", context)


def _fresh(box: Mailbox | None) -> Mailbox | None:
    return Mailbox.objects.get(pk=box.pk) if box is not None else None


@role_required(Role.CLIENT)
def box_delete(request: HttpRequest, pk: int) -> HttpResponse:
    box = _box(request, pk)
    count = box.messages.count()
    if box.extension_id is not None:
        messages.error(request, _("A user's box goes with the user's phone line."))
        return redirect("vm_box", box.pk)
    return confirm_then(
        request,
        lambda: services.mailbox_delete(actor=request.user, client=own_client(request), mailbox=box),
        title=_("Delete voicemail box %(box)s") % {"box": box},
        question=ngettext("Delete the shared box %(box)s, its greetings and its %(count)s message?",
                          "Delete the shared box %(box)s, its greetings and its %(count)s messages?",
                          count) % {"box": box, "count": count},
        submit=_("Delete box"), done=_("Voicemail box %(box)s deleted.") % {"box": box}, done_url=reverse("vm_list"),
        back_url=reverse("vm_box", args=[box.pk]),
    )  # fmt: skip


@role_required(Role.CLIENT)
@require_POST
def options(request: HttpRequest) -> HttpResponse:
    form = OptionsForm(request.POST)
    if form.is_valid():
        with service_call(request) as call:
            services.options_save(actor=request.user, client=own_client(request), **form.cleaned_data)
        if call.ok:
            messages.success(request, _("Voicemail options saved."))
    return redirect("vm_list")
