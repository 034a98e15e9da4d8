"""Portal pages for conference rooms: the client's operators see every room, a user the rooms they
moderate; each room's page has its dial-in facts and the live conference with its controls. The
provider's and brands' portals list the conferences running in their scope."""

from __future__ import annotations

import datetime as dt
from copy import copy

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from conferencing import services
from conferencing.forms import RoomForm
from conferencing.live import ACTIONS, conference_live, running_conferences
from conferencing.models import Room
from conferencing.reports import dial_outs_failed
from conferencing.selectors import ROOM_FIELDS, accounts_of, dial_code, live_state, running_conferences_for
from tenants.errors import PlatformError
from tenants.forms import changes
from tenants.models import Role, User
from tenants.views.common import confirm_then, form_valid, own_client, paginated, role_required, service_call

SEARCH = ["name", "conference_id", "access_number"]
FAILED_DIAL_OUTS_SHOWN = dt.timedelta(hours=1)
MEMBERS = (Role.CLIENT, Role.USER)
DONE = {
    "mute": gettext_lazy("Participant muted."),
    "unmute": gettext_lazy("Participant unmuted."),
    "kick": gettext_lazy("Participant removed from the conference."),
    "mute-all": gettext_lazy("Everyone but the moderators is muted."),
    "unmute-all": gettext_lazy("Everyone is unmuted."),
    "lock": gettext_lazy("The conference is locked: only moderators may join now."),
    "unlock": gettext_lazy("The conference is open again."),
    "record": gettext_lazy("Recording started."),
    "stop-record": gettext_lazy("Recording stopped."),
    "end": gettext_lazy("The conference is ending: everyone is let go."),
    "dial-out": gettext_lazy("Calling the number into the conference."),
    "trigger": gettext_lazy("Calling the room's list into the conference."),
}


def _room(request: HttpRequest, pk: int) -> Room:
    return Room.objects.get_for(request.user, pk=pk)


def _live(request: HttpRequest, room: Room) -> dict:
    """The room's conference for the live part of its page; an engine that does not answer is said,
    and so are the calls into it of the last hour that never joined (from their records)."""
    client = own_client(request)
    failed = dial_outs_failed(request.user, client_id=client.pk, conference=room.conference_id,
                              since=timezone.now() - FAILED_DIAL_OUTS_SHOWN)[:10]  # fmt: skip
    try:
        state = live_state(conference_live(actor=request.user, client=client, room=room))
    except PlatformError as exc:
        state = {**live_state(None), "problem": exc.message}
    return {**state, "failed": list(failed)}


@role_required(*MEMBERS)
def room_list(request: HttpRequest) -> HttpResponse:
    context = {"title": _("Conference rooms") if request.user.role == Role.CLIENT else _("My conference rooms"),
               **paginated(request, Room.objects.restrict(request.user), SEARCH)}  # fmt: skip
    moderators = accounts_of(room.moderator_id for room in context["rows"])
    running = {c["conference"]: len(c.get("participants", [])) for c in running_conferences(request.user.client_id)}
    for room in context["rows"]:
        room.moderator_user = moderators.get(room.moderator_id)
        room.in_it = running.get(room.conference_id)
        room.dial_code = dial_code(room)
    response = render(request, "conferencing/room_list.html", context)
    add_never_cache_headers(response)
    return response


@role_required(*MEMBERS)
def room_create(request: HttpRequest) -> HttpResponse:
    client = own_client(request)
    form = RoomForm(request.POST or None, actor=request.user, client=client)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid)
        services.room_create(actor=request.user, client=client, moderator=data.pop("moderator", None), **data)

    if request.method == "POST" and form_valid(form, check):
        data = dict(form.cleaned_data)
        with service_call(request, form) as call:
            room = services.room_create(actor=request.user, client=client, moderator=data.pop("moderator", None),
                                        **data)  # fmt: skip
        if call.ok:
            messages.success(
                request,
                _("Room %(name)s created: conference ID %(id)s.") % {"name": room.name, "id": room.conference_id},
            )
            return redirect("room_detail", pk=room.pk)
    context = {"title": _("New conference room"), "form": form, "submit": _("Create room"),
               "cancel_url": reverse("room_list")}  # fmt: skip
    return render(request, "portal/form_page.html", context)


@role_required(*MEMBERS)
def room_detail(request: HttpRequest, pk: int) -> HttpResponse:
    room = _room(request, pk)
    context = {"title": _("Room %(name)s") % {"name": room.name}, "room": room, "dial_code": dial_code(room),
               "moderator": User.objects.filter(pk=room.moderator_id).first(),
               "live": _live(request, room)}  # fmt: skip
    response = render(request, "conferencing/room_detail.html", context)
    add_never_cache_headers(response)
    return response


@role_required(*MEMBERS)
def room_live(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the live part of the room's page alone (the page's script swaps it in on events).
    POST: one control of the running conference (plain forms, no script needed), then the page."""
    room = _room(request, pk)
    if request.method != "POST":
        response = render(request, "conferencing/room_live.html", {"room": room, "live": _live(request, room)})
        add_never_cache_headers(response)
        return response
    action = request.POST.get("action", "")
    if action not in ACTIONS or action == "show":
        raise Http404(_("No such action."))
    try:
        conference_live(actor=request.user, client=own_client(request), room=room, action=action,
                        participant=request.POST.get("participant", ""),
                        number=request.POST.get("number", "").strip())  # fmt: skip
    except ValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.message_dict.values() for m in ms))
    except PlatformError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, str(DONE.get(action, _("Done."))))
    return redirect("room_detail", pk=room.pk)


@role_required(*MEMBERS)
def room_update(request: HttpRequest, pk: int) -> HttpResponse:
    room = _room(request, pk)
    client = own_client(request)
    form = RoomForm(request.POST or None, actor=request.user, client=client, room=room)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid), on a copy
        moderator = data.pop("moderator", None) if request.user.role == Role.CLIENT else None
        services.room_update(actor=request.user, client=client, room=copy(room), moderator=moderator, **data)

    if request.method == "POST" and form_valid(form, check):
        fields = changes(form, *ROOM_FIELDS)
        moderator = form.cleaned_data.get("moderator") if "moderator" in form.changed_data else None
        with service_call(request, form) as call:
            services.room_update(actor=request.user, client=client, room=room, moderator=moderator, **fields)
        if call.ok:
            messages.success(request, _("Room saved."))
            return redirect("room_detail", pk=room.pk)
    context = {
        "title": _("Edit room %(name)s") % {"name": room.name},
        "form": form,
        "cancel_url": reverse("room_detail", args=[pk]),
    }
    return render(request, "portal/form_page.html", context)


@role_required(*MEMBERS)
def room_delete(request: HttpRequest, pk: int) -> HttpResponse:
    room = _room(request, pk)
    return confirm_then(
        request,
        lambda: services.room_delete(actor=request.user, client=own_client(request), room=room),
        title=_("Delete room %(name)s") % {"name": room.name},
        question=_("Delete the room %(name)s (conference ID %(id)s)? Its numbers stop answering.")
        % {"name": room.name, "id": room.conference_id},
        submit=_("Delete room"),
        done=_("Room %(name)s deleted.") % {"name": room.name},
        done_url=reverse("room_list"),
        back_url=reverse("room_detail", args=[pk]),
    )


@role_required(Role.GOD, Role.BRAND)
def conference_list(request: HttpRequest) -> HttpResponse:
    """Every conference running now in the actor's scope (all companies, or the brand's), read-only."""
    context = {"title": _("Running conferences"), "conferences": running_conferences_for(actor=request.user)}
    response = render(request, "conferencing/conference_list.html", context)
    add_never_cache_headers(response)
    return response
