"""Client portal pages for employees: the operators' user list, and an employee's own phone."""

from __future__ import annotations

import json
from copy import copy

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_POST

from billing.csvio import csv_response
from config.redis_store import get_redis
from recordings.selectors import line_modes, recordings_of_calls
from records.models import Cdr
from records.selectors import records_finished
from telephony import services
from telephony.callindex import live_calls, parked_calls
from telephony.control import (
    call_hangup,
    call_hold,
    call_park,
    call_resume,
    call_retrieve,
    call_supervise,
    call_transfer,
)
from telephony.forms import (
    BlockForm,
    CallerBlockingForm,
    ForwardingForm,
    ScheduleForm,
    SecretResetForm,
    SipRuleForm,
    UserCreateForm,
    UserForm,
    UsersImportForm,
)
from telephony.models import Block, Extension, Schedule
from telephony.selectors import (
    acting_line,
    forwarding_summary,
    mark_call_handling,
    mark_registered,
    registered_usernames,
    registrations_of,
    sip_bans,
    sip_credentials,
    supervisions_seen_by,
)
from telephony.users_csv import COLUMNS as USER_COLUMNS
from telephony.users_csv import UsersInvalid, users_csv_rows
from tenants.errors import PlatformError
from tenants.forms import PeriodForm
from tenants.models import Role, SipAddressRule, User
from tenants.services import account_set_password, account_unlock, account_update
from tenants.views.common import (
    confirm_then,
    every_error,
    form_valid,
    mark_signin_locks,
    own_client,
    paginated,
    role_required,
    service_call,
    show_once,
    take_once,
)

SEARCH = ["number", "display_name", "sip_username", "account__email", "account__name"]
CALL_SEARCH = ["caller_number", "callee_number", "caller_name", "callee_name", "answered_by"]
USER_SORT = {"number": "number", "name": "display_name", "email": "account__email", "sip": "sip_username",
             "active": "account__is_active"}  # fmt: skip
CALL_SORT = {"started": "started_at", "from": "caller_number", "to": "callee_number", "outcome": "disposition",
             "talk": "billsec"}  # fmt: skip


def _extensions(actor: User):
    return Extension.objects.restrict(actor).select_related("account")


def _secret_slot(extension: Extension) -> str:
    return f"sip-secret:{extension.pk}"


def _with_secret(request: HttpRequest, template: str, context: dict, extension: Extension) -> HttpResponse:
    """Render a page that shows the line's new SIP secret if one is waiting, then forget it."""
    secret = take_once(request, _secret_slot(extension))
    response = render(request, template, {**context, "secret": secret})
    add_never_cache_headers(response)
    return response


REGISTERED = [("yes", gettext_lazy("Phone registered")), ("no", gettext_lazy("No phone registered"))]


@role_required(Role.CLIENT)
def user_list(request: HttpRequest) -> HttpResponse:
    """The client's users: searched, sorted, and filtered by whether a phone is registered now."""
    extensions = _extensions(request.user)
    registered = request.GET.get("registered", "")
    if registered in ("yes", "no"):
        online = {"sip_username__in": registered_usernames(own_client(request))}
        extensions = extensions.filter(**online) if registered == "yes" else extensions.exclude(**online)
    else:
        registered = ""
    context = {
        "title": _("Users"),
        "registered": registered,
        "registered_choices": REGISTERED,
        **paginated(request, extensions, SEARCH, sort=USER_SORT),
    }
    mark_signin_locks(context["rows"], lambda extension: extension.account)
    mark_call_handling(context["rows"])
    mark_registered(client=own_client(request), extensions=context["rows"])
    recording = line_modes(own_client(request), [extension.pk for extension in context["rows"]])
    for extension in context["rows"]:
        extension.recording = recording[extension.pk]
    return render(request, "telephony/user_list.html", context)


@role_required(Role.CLIENT)
def user_create(request: HttpRequest) -> HttpResponse:
    """A new employee with a login and an extension; the generated SIP secret is shown once."""
    form = UserCreateForm(request.POST or None)

    def check(data: dict) -> None:
        services.extension_check_new(client=own_client(request), **data)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            extension, secret = services.extension_create(
                actor=request.user, client=own_client(request), **form.cleaned_data
            )
        if call.ok:
            show_once(request, _secret_slot(extension), secret)
            messages.success(
                request,
                _("User %(name)s created with extension %(number)s.")
                % {"name": extension.display_name, "number": extension.number},
            )
            return redirect("user_detail", pk=extension.pk)
    context = {"title": _("New user"), "form": form, "submit": _("Create user"), "cancel_url": reverse("user_list")}
    return render(request, "portal/form_page.html", context)


@role_required(Role.CLIENT)
def user_export(request: HttpRequest) -> HttpResponse:
    """The client's users as CSV: the import's columns, no password and no SIP secret."""
    client = own_client(request)
    return csv_response(
        request, USER_COLUMNS, list(users_csv_rows(_extensions(request.user))), filename=f"users-{client.slug}.csv"
    )


IMPORT_SLOT = "users-import"


@role_required(Role.CLIENT)
def user_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV file: every bad row is listed and nobody is created, or everyone is, and the next
    page shows their SIP secrets once."""
    form = UsersImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.users_import(
                actor=request.user, client=own_client(request), data=form.cleaned_data["file"].read()
            )
        except UsersInvalid as exc:  # the page shows the whole report
            report = exc
        else:
            lines = [{"number": e.number, "name": e.display_name, "sip_username": e.sip_username, "secret": secret}
                     for e, secret in created]  # fmt: skip
            show_once(request, IMPORT_SLOT, json.dumps(lines))
            messages.success(
                request,
                ngettext("%(count)s user created.", "%(count)s users created.", len(created)) % {"count": len(created)},
            )
            return redirect("user_import_done")
    context = {
        "title": _("Import users"),
        "form": form,
        "report": report,
        "submit": _("Import"),
        "cancel_url": reverse("user_list"),
    }
    return render(request, "telephony/user_import.html", context)


@role_required(Role.CLIENT)
def user_import_done(request: HttpRequest) -> HttpResponse:
    """The imported lines' SIP secrets, once: a reload shows them no more."""
    kept = take_once(request, IMPORT_SLOT)
    context = {"title": _("Users imported"), "lines": json.loads(kept) if kept else None}
    response = render(request, "telephony/user_import_done.html", context)
    add_never_cache_headers(response)
    return response


@role_required(Role.CLIENT)
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    extension = _extensions(request.user).get_for(request.user, pk=pk)
    mark_signin_locks([extension], lambda extension: extension.account)
    context = {
        "title": _("User %(number)s %(name)s") % {"number": extension.number, "name": extension.display_name},
        "extension": extension,
        "sip": sip_credentials(client=own_client(request), extension=extension),
        "registrations": registrations_of(client=own_client(request), extension=extension),
        "reset_form": SecretResetForm(),
        "call_handling": forwarding_summary(services.forwarding_of(own_client(request), extension)),
        "recording": line_modes(own_client(request), [extension.pk])[extension.pk],
    }
    return _with_secret(request, "telephony/user_detail.html", context, extension)


@role_required(Role.CLIENT)
def user_update(request: HttpRequest, pk: int) -> HttpResponse:
    """Number and caller name of the line, name, e-mail, active flag and password of the account."""
    extension = _extensions(request.user).get_for(request.user, pk=pk)
    account = extension.account
    initial = {
        "number": extension.number,
        "display_name": extension.display_name,
        "may_intercept": extension.may_intercept,
        "may_barge": extension.may_barge,
        "supervision_exempt": extension.supervision_exempt,
        "name": account.name,
        "email": account.email,
        "is_active": account.is_active,
    }
    form = UserForm(request.POST or None, initial=initial)

    def save(data: dict) -> None:
        """Line, account and password, each refusing its own fields; a field the form refused keeps
        its current value (for the check of the others)."""
        data = {**initial, **data}
        changed = {name: data[name] for name in initial if data[name] != initial[name]}
        line = {
            name: changed[name]
            for name in ("number", "display_name", "may_intercept", "may_barge", "supervision_exempt")
            if name in changed
        }
        with every_error() as attempt:
            if line:
                attempt(
                    services.extension_update,
                    actor=request.user,
                    client=own_client(request),
                    extension=copy(extension),
                    **line,
                )
            own = {name: changed[name] for name in ("name", "email", "is_active") if name in changed}
            attempt(account_update, actor=request.user, account=copy(account), **own)
            if data.get("password"):
                attempt(account_set_password, actor=request.user, account=copy(account), password=data["password"])

    if request.method == "POST" and form_valid(form, save):
        with service_call(request, form) as call:
            save(form.cleaned_data)
        if call.ok:
            messages.success(request, _("User saved."))
            return redirect("user_detail", pk=extension.pk)
    context = {
        "title": _("Edit user %(number)s") % {"number": extension.number},
        "form": form,
        "cancel_url": reverse("user_detail", args=[pk]),
    }
    return render(request, "portal/form_page.html", context)


@require_POST
@role_required(Role.CLIENT)
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    """Lift the sign-in lock that wrong passwords put on an employee's account."""
    extension = _extensions(request.user).get_for(request.user, pk=pk)
    with service_call(request) as call:
        account_unlock(actor=request.user, account=extension.account)
    if call.ok:
        messages.success(request, _("%(email)s may sign in again.") % {"email": extension.account.email})
    return redirect("user_detail", pk=extension.pk)


@require_POST
@role_required(Role.CLIENT)
def user_reset_secret(request: HttpRequest, pk: int) -> HttpResponse:
    """A new SIP secret (and optionally user name) for the line; the phone must be set up again."""
    extension = _extensions(request.user).get_for(request.user, pk=pk)
    form = SecretResetForm(request.POST)
    if form.is_valid():
        with service_call(request) as call:
            secret = services.extension_reset_secret(
                actor=request.user,
                client=own_client(request),
                extension=extension,
                sip_username=form.cleaned_data["sip_username"] or None,
            )
        if call.ok:
            show_once(request, _secret_slot(extension), secret)
            messages.success(request, _("New SIP secret generated; the old one no longer registers."))
    return redirect("user_detail", pk=extension.pk)


@role_required(Role.CLIENT)
def user_delete(request: HttpRequest, pk: int) -> HttpResponse:
    extension = _extensions(request.user).get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.extension_delete(actor=request.user, client=own_client(request), extension=extension),
        title=_("Delete user %(number)s") % {"number": extension.number},
        question=_(
            "Delete %(name)s (%(email)s) and extension %(number)s? "
            "Their phone stops registering and they can no longer sign in."
        )
        % {"name": extension.account.name, "email": extension.account.email, "number": extension.number},
        submit=_("Delete user"),
        done=_("User %(name)s and extension %(number)s deleted.")
        % {"name": extension.display_name, "number": extension.number},
        done_url=reverse("user_list"),
        back_url=reverse("user_detail", args=[pk]),
    )


@role_required(Role.USER)
def my_phone(request: HttpRequest) -> HttpResponse:
    """An employee's SIP credentials, to set up a phone or softphone."""
    extension = _extensions(request.user).get_for(request.user, account_id=request.user.pk)
    context = {
        "title": _("My phone"),
        "sip": sip_credentials(client=own_client(request), extension=extension),
        "registrations": registrations_of(client=own_client(request), extension=extension),
    }
    return _with_secret(request, "telephony/my_phone.html", context, extension)


@require_POST
@role_required(Role.USER)
def my_phone_reset(request: HttpRequest) -> HttpResponse:
    extension = _extensions(request.user).get_for(request.user, account_id=request.user.pk)
    with service_call(request) as call:
        secret = services.extension_reset_secret(actor=request.user, client=own_client(request), extension=extension)
    if call.ok:
        show_once(request, _secret_slot(extension), secret)
        messages.success(request, _("New SIP secret generated; set it in your phone."))
    return redirect("my_phone")


# Call handling: do-not-disturb, forwarding and find-me (telephony.models.Forwarding) -------------------


def _forwarding_page(request: HttpRequest, extension: Extension, *, title: str, done_url: str,
                     cancel_url: str | None = None) -> HttpResponse:  # fmt: skip
    """One form for both portals: the operators' for any line of their client, a user's for their own
    (forwarding_save checks who may, and every field)."""
    client = own_client(request)
    current = services.forwarding_of(client, extension)
    form = ForwardingForm(request.POST or None, initial={n: getattr(current, n) for n in services.FORWARDING_FIELDS})

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid): the rest keep theirs
        services.forwarding_save(actor=request.user, client=client, extension=extension, **data)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            services.forwarding_save(actor=request.user, client=client, extension=extension, **form.cleaned_data)
        if call.ok:
            messages.success(request, _("Call handling saved."))
            return redirect(done_url)
    context = {"title": title, "form": form, "submit": _("Save call handling"), "cancel_url": cancel_url,
               "extension": extension, "call_handling": forwarding_summary(current)}  # fmt: skip
    return render(request, "telephony/forwarding_form.html", context)


@role_required(Role.CLIENT)
def user_forwarding(request: HttpRequest, pk: int) -> HttpResponse:
    extension = _extensions(request.user).get_for(request.user, pk=pk)
    detail = reverse("user_detail", args=[pk])
    title = _("Call handling of %(number)s %(name)s") % {"number": extension.number, "name": extension.display_name}
    return _forwarding_page(request, extension, title=title,
                            done_url=detail, cancel_url=detail)  # fmt: skip


@role_required(Role.USER)
def my_forwarding(request: HttpRequest) -> HttpResponse:
    extension = _extensions(request.user).get_for(request.user, account_id=request.user.pk)
    return _forwarding_page(request, extension, title=_("Call handling"), done_url=reverse("my_forwarding"))


@role_required(Role.GOD, Role.BRAND)
def protection(request: HttpRequest) -> HttpResponse:
    """Bans in force (each releasable) and address rules (add, remove) in the actor's scope."""
    form = SipRuleForm(request.POST or None, actor=request.user)

    def check(data: dict) -> None:  # the network's checks when the client is refused (form_valid)
        services.sip_rule_check(client=data.get("client"), network=data.get("network"), action=data.get("action"))

    if request.method == "POST" and form_valid(form, check):
        data = form.cleaned_data
        with service_call(request, form) as call:
            services.sip_rule_create(actor=request.user, client=data["client"], network=data["network"],
                                     action=data["action"], note=data["note"])  # fmt: skip
        if call.ok:
            messages.success(request, _("Rule added; every edge applies it at once."))
            return redirect("protection")
    context = {
        "title": _("SIP protection"),
        "bans": sip_bans(actor=request.user),
        "rules": SipAddressRule.objects.restrict(request.user).select_related("client"),
        "form": form,
    }
    return render(request, "telephony/protection.html", context)


@require_POST
@role_required(Role.GOD, Role.BRAND)
def protection_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = SipAddressRule.objects.get_for(request.user, pk=pk)
    with service_call(request) as call:
        services.sip_rule_delete(actor=request.user, rule=rule)
    if call.ok:
        messages.success(request, _("Rule %(rule)s removed.") % {"rule": rule})
    return redirect("protection")


@require_POST
@role_required(Role.GOD, Role.BRAND)
def protection_release(request: HttpRequest) -> HttpResponse:
    key = request.POST.get("key", "")
    with service_call(request) as call:
        services.sip_ban_release(actor=request.user, key=key)
    if call.ok:
        messages.success(request, _("Ban released on every edge."))
    return redirect("protection")


@role_required(Role.CLIENT, Role.USER)
def call_list(request: HttpRequest) -> HttpResponse:
    """Calls in progress (with hang-up) and the history: the client's for operators, a user's own."""
    calls = Cdr.objects.restrict(request.user)
    days = PeriodForm(request.GET)  # days in the client's time zone; a bad one is shown, not applied
    history = records_finished(actor=request.user, **(days.period() if days.is_valid() else {}))
    disposition = request.GET.get("disposition", "")
    if disposition in Cdr.Disposition.values:
        history = history.filter(disposition=disposition)
    direction = request.GET.get("direction", "")
    if direction in Cdr.Direction.values:
        history = history.filter(direction=direction)
    else:
        direction = ""
    active = list(calls.active()[:200])
    if active:  # which of them wait in a park slot, who is in them now, held, supervised (the engines' index)
        parked = parked_calls(get_redis(), settings.OCX_REDIS_PREFIX, request.tenant.pk)
        live = live_calls(get_redis(), settings.OCX_REDIS_PREFIX, request.tenant.pk)
        for call in active:
            call.park_slot = parked.get(str(call.call_uuid))
            call.live = live.get(str(call.call_uuid))
    context = {
        "title": _("Calls") if request.user.role == Role.CLIENT else _("My calls"),
        "active": active,
        # Users see their own calls only: granted lines supervise others' by dial code (*81/*82/*83<ext>).
        "may_supervise": request.user.role == Role.CLIENT,
        "dispositions": [c for c in Cdr.Disposition.choices if c[0] != Cdr.Disposition.IN_PROGRESS],
        "disposition": disposition,
        "directions": Cdr.Direction.choices,
        "direction": direction,
        "days": days,
        "filtered": bool(disposition or direction or request.GET.get("since") or request.GET.get("until")),
        **paginated(request, history, CALL_SEARCH, sort=CALL_SORT),
    }
    for call in context["rows"]:
        call.supervisions = [{**v, "mode_shown": SUPERVISE_MODES.get(v.get("mode"), v.get("mode")),
                              "agent_shown": ENDED_BY.get(v.get("agent"), v.get("agent"))}
                             for v in supervisions_seen_by(request.user, call.supervisions)]  # fmt: skip
        call.segments = [{**s, "reason_shown": SEAT_REASONS.get(s.get("reason"), s.get("reason"))}
                         for s in call.segments or []]  # fmt: skip
        call.ended_by = ENDED_BY.get(call.hangup_side, call.hangup_side)
    heard = recordings_of_calls(actor=request.user, client=request.tenant,
                                call_uuids=[call.call_uuid for call in context["rows"]])  # fmt: skip
    for call in context["rows"]:
        call.recordings = heard.get(call.call_uuid, [])
    return render(request, "telephony/call_list.html", context)


SUPERVISE_MODES = {
    "monitor": pgettext_lazy("supervision mode", "monitor"),
    "whisper": pgettext_lazy("supervision mode", "whisper"),
    "barge": pgettext_lazy("supervision mode", "barge"),
}


# What the history shows for a segment's reason (telephony/engine/call.py seat()) and the side that hung up.
SEAT_REASONS = {
    "answer": pgettext_lazy("who talked", "answer"),
    "pickup": pgettext_lazy("who talked", "pickup"),
    "transfer": pgettext_lazy("who talked", "transfer"),
    "attended-transfer": pgettext_lazy("who talked", "attended transfer"),
    "park": pgettext_lazy("who talked", "park"),
    "retrieve": pgettext_lazy("who talked", "retrieve"),
}
ENDED_BY = {
    "caller": pgettext_lazy("ended by", "caller"),
    "callee": pgettext_lazy("ended by", "callee"),
    "engine": pgettext_lazy("ended by", "engine"),
}


def _acting_line(request: HttpRequest, problem: str) -> Extension:
    """The line an action rings: a user's own; an operator names it in the form's "to"."""
    extension = acting_line(request.user, request.POST.get("to", "").strip())
    if extension is None:
        raise ValidationError({"to": problem})
    return extension


@role_required(Role.CLIENT, Role.USER)
@require_POST
def call_action(request: HttpRequest, call_uuid, action: str) -> HttpResponse:
    """Hang up, hold, resume, transfer, park or retrieve a call in progress, through the engine that
    holds it."""
    if action not in ("hangup", "hold", "resume", "transfer", "park", "retrieve", "supervise"):
        raise Http404("No such action.")
    cdr = Cdr.objects.get_for(request.user, call_uuid=call_uuid)
    party = request.POST.get("party") or None
    values = {}
    try:
        if action == "hangup":
            call_hangup(actor=request.user, cdr=cdr)
            done = _("The call %(call)s is being hung up.")
        elif action == "hold":
            held = call_hold(actor=request.user, cdr=cdr, held=party)
            if held == "caller":
                done = _("The call %(call)s is on hold (caller hears music).")
            else:
                done = _("The call %(call)s is on hold (callee hears music).")
        elif action == "resume":
            call_resume(actor=request.user, cdr=cdr)
            done = _("The call %(call)s is resumed.")
        elif action == "park":
            values["slot"] = call_park(actor=request.user, cdr=cdr, parked=party)
            done = _("The call %(call)s is parked in slot %(slot)s (dial *71%(slot)s to take it back).")
        elif action == "retrieve":
            extension = _acting_line(request, _("Name the extension whose phones ring to take the call."))
            call_retrieve(actor=request.user, cdr=cdr, extension=extension)
            values["number"] = extension.number
            done = _("The call %(call)s is retrieved to %(number)s.")
        elif action == "supervise":
            extension = _acting_line(request, _("Name the extension whose phones ring to join the call."))
            mode = request.POST.get("mode", "")
            call_supervise(actor=request.user, cdr=cdr, extension=extension, mode=mode,
                           agent=request.POST.get("agent") or "callee")  # fmt: skip
            values.update(number=extension.number, mode=SUPERVISE_MODES.get(mode, mode))
            done = _("The call %(call)s has %(number)s in it (%(mode)s).")
        else:
            to = request.POST.get("to", "").strip()
            if not (to.isdigit() and 2 <= len(to) <= 4):
                raise ValidationError({"to": _("Transfer to an extension number: 2 to 4 digits.")})
            call_transfer(actor=request.user, cdr=cdr, to=to, leaving=party)
            values["number"] = to
            done = _("The call %(call)s is transferred to %(number)s.")
    except ValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.message_dict.values() for m in ms))
    except PlatformError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done % {"call": f"{cdr.caller_number} → {cdr.callee_number}", **values})
    return redirect("call_list")


# Schedules: office hours and holidays that numbers follow --------------------------------------------


@role_required(Role.CLIENT)
def schedule_list(request: HttpRequest) -> HttpResponse:
    context = {"title": _("Schedules"), **paginated(request, Schedule.objects.restrict(request.user), ["name"])}
    return render(request, "telephony/schedule_list.html", context)


@role_required(Role.CLIENT)
def schedule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    schedule = Schedule.objects.get_for(request.user, pk=pk) if pk is not None else None
    initial = {"name": schedule.name, "hours": schedule.hours, "holidays": schedule.holidays} if schedule else None
    form = ScheduleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        with service_call(request, form) as call:
            saved = services.schedule_save(actor=request.user, client=own_client(request), schedule=schedule,
                                           **form.cleaned_data)  # fmt: skip
        if call.ok:
            messages.success(request, _("Schedule %(name)s saved.") % {"name": saved.name})
            return redirect("schedule_list")
    title = _("Schedule %(name)s") % {"name": schedule.name} if schedule else _("New schedule")
    context = {"title": title, "form": form,
               "submit": _("Save schedule"), "cancel_url": reverse("schedule_list"),
               "intro": _("When the company is open, in its time zone. A number that follows this schedule "
                          "rings its closed destination the rest of the time.")}  # fmt: skip
    return render(request, "telephony/schedule_form.html", context)


@role_required(Role.CLIENT)
def schedule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = Schedule.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.schedule_delete(actor=request.user, client=own_client(request), schedule=schedule),
        title=_("Delete schedule %(name)s") % {"name": schedule.name},
        question=_("Delete the schedule %(name)s?") % {"name": schedule.name},
        submit=_("Delete schedule"),
        done=_("Schedule %(name)s deleted.") % {"name": schedule.name},
        done_url=reverse("schedule_list"),
        back_url=reverse("schedule_edit", args=[pk]),
    )


# Blocking lists: blocked callers and blocked destinations ----------------------------------------------


def _blocks_shown(rows, country: str) -> list:
    """Each entry with `shown`: a number as the company's people read it, a prefix as stored."""
    from pstn.numbering import national

    rows = list(rows)
    for block in rows:
        block.shown = national(block.value, country) if block.kind == "number" else block.value
    return rows


@role_required(Role.CLIENT)
def blocking(request: HttpRequest) -> HttpResponse:
    """Both lists, and what blocked callers get; the action is saved here."""
    client = own_client(request)
    setting = services.caller_blocking_of(client)
    form = CallerBlockingForm(request.POST or None, initial={"action": setting.action})
    if request.method == "POST" and form.is_valid():
        with service_call(request, form) as call:
            services.caller_blocking_update(actor=request.user, client=client, action=form.cleaned_data["action"])
        if call.ok:
            chosen = dict(form.fields["action"].choices)[form.cleaned_data["action"]]
            chosen = f"{chosen[0].lower()}{chosen[1:]}"
            messages.success(request, _("Saved: blocked callers' calls are %(action)s.") % {"action": chosen})
            return redirect("blocking")
    blocks = Block.objects.restrict(request.user)
    context = {
        "title": _("Blocked numbers"),
        "form": form,
        "callers": _blocks_shown(blocks.filter(direction=Block.Direction.INBOUND), client.country),
        "destinations": _blocks_shown(blocks.filter(direction=Block.Direction.OUTBOUND), client.country),
    }
    return render(request, "telephony/blocking.html", context)


@role_required(Role.CLIENT)
def block_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    block = Block.objects.get_for(request.user, pk=pk) if pk is not None else None
    if block is not None:
        initial = {"direction": block.direction, "kind": block.kind, "value": block.value, "note": block.note}
    else:
        initial = {"direction": "outbound" if request.GET.get("direction") == "outbound" else "inbound"}
    form = BlockForm(request.POST or None, initial=initial)
    if block is not None:
        form.fields["direction"].disabled = True  # an entry stays on its list

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid), on a copy
        if {"direction", "kind"} <= set(data):  # (a value is read by its list and kind)
            services.block_save(actor=request.user, client=own_client(request), block=copy(block), **data)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            saved = services.block_save(actor=request.user, client=own_client(request), block=block,
                                        **form.cleaned_data)  # fmt: skip
        if call.ok:
            messages.success(request, _("%(entry)s saved.") % {"entry": saved})
            return redirect("blocking")
    context = {"title": _("Blocked number") if block else _("Block a number"), "form": form, "submit": _("Save"),
               "cancel_url": reverse("blocking"),
               "intro": _("Numbers are read the way your company's people write them. Emergency numbers are never "
                          "blocked.")}  # fmt: skip
    return render(request, "telephony/block_form.html", context)


@role_required(Role.CLIENT)
def block_delete(request: HttpRequest, pk: int) -> HttpResponse:
    block = Block.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.block_delete(actor=request.user, client=own_client(request), block=block),
        title=_("Remove a blocked number"),
        question=_("Remove %(entry)s from the list?") % {"entry": block},
        submit=_("Remove"),
        done=_("%(entry)s removed.") % {"entry": block},
        done_url=reverse("blocking"),
        back_url=reverse("block_edit", args=[pk]),
    )
