"""Portal pages for mass notification: the company's message library (upload, record by phone,
delete) and its campaigns (create, start, the per-number report and its CSV). Operators see every
message and campaign of the client, a user the ones they made."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing.csvio import csv_response
from conferencing import notifications
from conferencing.forms import CampaignForm, MessageRecordForm, MessageUploadForm
from conferencing.models import Campaign, Message
from conferencing.selectors import TARGET_COLUMNS, accounts_of, campaigns_counted, record_code, target_row
from telephony.models import Extension
from tenants.models import Role
from tenants.views.common import confirm_then, form_valid, own_client, paginated, role_required, service_call
from tenants.views.files import ranged_file

MEMBERS = (Role.CLIENT, Role.USER)


def _line(request: HttpRequest) -> Extension | None:
    """The actor's own phone line (operators usually have none): only it records their messages."""
    return Extension.objects.filter(account_id=request.user.pk).first()


@role_required(*MEMBERS)
def message_list(request: HttpRequest) -> HttpResponse:
    library = Message.objects.restrict(request.user).annotate(campaign_count=Count("campaigns")).order_by("name", "id")
    context = {"title": _("Messages") if request.user.role == Role.CLIENT else _("My messages"),
               "may_record": _line(request) is not None, **paginated(request, library, ["name"])}  # fmt: skip
    makers = accounts_of(m.created_by_id for m in context["rows"])
    for message in context["rows"]:
        message.maker = makers.get(message.created_by_id)
        message.record_code = record_code(message)
        message.mine = message.created_by_id == request.user.pk
    return render(request, "conferencing/message_list.html", context)


@role_required(*MEMBERS)
def message_audio(request: HttpRequest, pk: int) -> HttpResponse:
    """A message's audio for the library's player (in the actor's scope; ranges for seeking)."""
    message = Message.objects.get_for(request.user, pk=pk)
    if not message.recorded:
        raise Http404(_("The message has no audio yet."))
    response = ranged_file(request, notifications.message_path(own_client(request).pk, message.pk), "audio/wav")
    response["Cache-Control"] = "private, no-cache"
    return response


@role_required(*MEMBERS)
def message_upload(request: HttpRequest) -> HttpResponse:
    form = MessageUploadForm(request.POST or None, request.FILES or None)

    def check(data: dict) -> None:  # the audio's check when the name is refused (form_valid); with a name
        # refused, the service writes no audio file (it refuses before), and its rows are undone
        notifications.message_create(actor=request.user, client=own_client(request), name=data.get("name", ""),
                                     upload=data.get("audio"))  # fmt: skip

    if request.method == "POST" and form_valid(form, check):
        data = form.cleaned_data
        with service_call(request, form) as call:
            message = notifications.message_create(actor=request.user, client=own_client(request), name=data["name"],
                                                   upload=data["audio"])  # fmt: skip
        if call.ok:
            messages.success(
                request,
                _("Message %(name)s uploaded (%(seconds).1f s).") % {"name": message.name, "seconds": message.seconds},
            )
            return redirect("message_list")
    context = {"title": _("Upload a message"), "form": form, "submit": _("Upload"),
               "cancel_url": reverse("message_list")}  # fmt: skip
    return render(request, "portal/form_page.html", context)


@role_required(*MEMBERS)
def message_record(request: HttpRequest) -> HttpResponse:
    """A message without audio yet: its maker's phone records it by dialling *89<id>."""
    line = _line(request)
    if line is None:
        messages.error(request, _("Your account has no phone line to record from: upload the message as a file, or "
                                 "ask a user with a line to record it."))  # fmt: skip
        return redirect("message_upload")
    form = MessageRecordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with service_call(request, form) as call:
            message = notifications.message_create(actor=request.user, client=own_client(request),
                                                   name=form.cleaned_data["name"])  # fmt: skip
        if call.ok:
            messages.success(request, _("Message %(name)s created: dial %(code)s from your phone (%(line)s), speak "
                                         "after the tone and press # to finish.")
                             % {"name": message.name, "code": record_code(message), "line": line.number})  # fmt: skip
            return redirect("message_list")
    context = {"title": _("Record a message by phone"), "form": form, "submit": _("Create, then record"),
               "cancel_url": reverse("message_list")}  # fmt: skip
    return render(request, "portal/form_page.html", context)


@role_required(*MEMBERS)
def message_delete(request: HttpRequest, pk: int) -> HttpResponse:
    message = Message.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: notifications.message_delete(actor=request.user, client=own_client(request), message=message),
        title=_("Delete message %(name)s") % {"name": message.name},
        question=_("Delete the message %(name)s and its audio?") % {"name": message.name},
        submit=_("Delete message"),
        done=_("Message %(name)s deleted.") % {"name": message.name},
        done_url=reverse("message_list"),
        back_url=reverse("message_list"),
    )


@role_required(*MEMBERS)
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = campaigns_counted(Campaign.objects.restrict(request.user))
    context = {"title": _("Notifications") if request.user.role == Role.CLIENT else _("My notifications"),
               **paginated(request, campaigns, ["name", "message__name"])}  # fmt: skip
    makers = accounts_of(c.created_by_id for c in context["rows"])
    for campaign in context["rows"]:
        campaign.maker = makers.get(campaign.created_by_id)
    response = render(request, "conferencing/campaign_list.html", context)
    add_never_cache_headers(response)
    return response


@role_required(*MEMBERS)
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None, actor=request.user)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid)
        fields = {"name": "", "message": None, "numbers": "", **data}
        notifications.campaign_create(actor=request.user, client=own_client(request), **fields)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            campaign = notifications.campaign_create(
                actor=request.user, client=own_client(request), **form.cleaned_data
            )
        if call.ok:
            messages.success(
                request, _("Notification %(name)s created: check it, then start it.") % {"name": campaign.name}
            )
            return redirect("campaign_detail", pk=campaign.pk)
    context = {"title": _("New notification"), "form": form, "submit": _("Create notification"),
               "cancel_url": reverse("campaign_list")}  # fmt: skip
    return render(request, "portal/form_page.html", context)


@role_required(*MEMBERS)
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaigns_counted(Campaign.objects.restrict(request.user)).get_for(request.user, pk=pk)
    maker = accounts_of([campaign.created_by_id]).get(campaign.created_by_id)
    context = {"title": _("Notification %(name)s") % {"name": campaign.name}, "campaign": campaign,
               "targets": campaign.targets.all(), "maker": maker}  # fmt: skip
    response = render(request, "conferencing/campaign_detail.html", context)
    add_never_cache_headers(response)
    return response


@role_required(*MEMBERS)
@require_POST
def campaign_start(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = Campaign.objects.get_for(request.user, pk=pk)
    with service_call(request) as call:
        notifications.campaign_start(actor=request.user, client=own_client(request), campaign=campaign)
    if call.ok:
        messages.success(request, _("Notification %(name)s started: the report fills in as the numbers answer.")
                         % {"name": campaign.name})  # fmt: skip
    return redirect("campaign_detail", pk=campaign.pk)


@role_required(*MEMBERS)
def campaign_report(request: HttpRequest, pk: int) -> HttpResponse:
    """The per-number report as CSV."""
    campaign = Campaign.objects.get_for(request.user, pk=pk)
    rows = (target_row(t) for t in campaign.targets.all())
    return csv_response(request, TARGET_COLUMNS, rows, filename=f"notification-{campaign.pk}-report.csv")
