"""Portal pages of the exports, in every portal with its own scope: the CDR export (streamed when small,
an export job with a progress bar and a download link when it is not), and for operators the scheduled
pushes (destinations, their files and errors)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

from config.downloads import download, file_chunks
from exports import services
from exports.forms import DestinationForm, ExportForm
from exports.models import ExportJob, PushDestination
from exports.selectors import cdr_csv, cdr_export_records, count_upto, export_jobs_of
from tenants.models import Role
from tenants.views.common import confirm_then, form_valid, role_required, service_call

EVERYONE = (Role.GOD, Role.BRAND, Role.CLIENT, Role.USER)
OPERATORS = (Role.GOD, Role.BRAND, Role.CLIENT)


@role_required(*EVERYONE)
def export_page(request: HttpRequest) -> HttpResponse:
    """The filters; POST exports: a stream up to OCX_EXPORT_STREAM_MAX_ROWS rows, a job beyond."""
    form = ExportForm(request.POST or None, actor=request.user, initial={"bom": True})
    if request.method == "POST" and form.is_valid():
        filters, bom = form.filters(), form.cleaned_data["bom"]
        records = cdr_export_records(actor=request.user, filters=filters)
        limit = settings.OCX_EXPORTS["stream_max_rows"]
        if count_upto(records, limit) <= limit:
            return download(request, cdr_csv(records, bom=bom), filename="cdr-export.csv")
        with service_call(request) as call:
            job = services.cdr_export_start(actor=request.user, filters=filters, bom=bom)
        if call.ok:
            messages.success(
                request,
                _("More than %(limit)s calls: export %(job)s runs in the background.")
                % {"limit": f"{limit:,}", "job": job.pk},
            )
        return redirect("export_page")
    jobs = list(export_jobs_of(actor=request.user)[:20])
    for job in jobs:
        job.progress = services.export_job_progress(job)
    context = {"title": _("Call record export"), "form": form, "jobs": jobs,
               "refresh": any(not job.finished for job in jobs), "operator": request.user.role in OPERATORS,
               "limit": settings.OCX_EXPORTS["stream_max_rows"]}  # fmt: skip
    response = render(request, "exports/export.html", context)
    add_never_cache_headers(response)
    return response


@role_required(*EVERYONE)
def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    job = ExportJob.objects.get_for(request.user, pk=pk)
    path = services.export_job_path(job) if job.file else None
    if job.status != ExportJob.Status.DONE or path is None or not path.exists():
        raise Http404(_("This export has no file (yet)."))
    return download(request, file_chunks(path), filename=f"cdr-export-{job.pk}.csv")


@role_required(*OPERATORS)
def export_push_list(request: HttpRequest) -> HttpResponse:
    destinations = PushDestination.objects.restrict(request.user).select_related("brand", "client")
    return render(request, "exports/push_list.html", {"title": _("CDR pushes"), "destinations": destinations})


def _destination(request: HttpRequest, pk: int) -> PushDestination:
    return PushDestination.objects.select_related("brand", "client").get_for(request.user, pk=pk)


@role_required(*OPERATORS)
def export_push_new(request: HttpRequest) -> HttpResponse:
    form = DestinationForm(request.POST or None, actor=request.user)

    def check(data: dict) -> None:  # a dry run of the service on the fields the form accepted (form_valid)
        services.push_destination_create(actor=request.user, **{"secret": "", **data})

    if request.method == "POST" and form_valid(form, check):
        data = dict(form.cleaned_data)
        with service_call(request, form) as call:
            destination = services.push_destination_create(actor=request.user, **data)
        if call.ok:
            first_run = timezone.localtime(destination.next_run_at)
            zone = timezone.get_current_timezone_name()
            messages.success(
                request,
                _("%(name)s created; first run %(first_run)s (%(zone)s).")
                % {"name": destination.name, "first_run": f"{first_run:%Y-%m-%d %H:%M}", "zone": zone},
            )
            return redirect("export_push_detail", pk=destination.pk)
    context = {"title": _("New CDR push"), "form": form, "submit": _("Create"),
               "cancel_url": reverse("export_push_list")}  # fmt: skip
    return render(request, "portal/form_page.html", context)


@role_required(*OPERATORS)
def export_push_detail(request: HttpRequest, pk: int) -> HttpResponse:
    destination = _destination(request, pk)
    files = destination.files.all()[:50]
    running = destination.lease_until is not None and destination.lease_until > timezone.now()
    response = render(request, "exports/push_detail.html",
                      {"title": destination.name, "destination": destination, "files": files,
                       "running": running})  # fmt: skip
    add_never_cache_headers(response)
    return response


@role_required(*OPERATORS)
def export_push_edit(request: HttpRequest, pk: int) -> HttpResponse:
    destination = _destination(request, pk)
    form = DestinationForm(request.POST or None, instance=destination, actor=request.user)

    def check(data: dict) -> None:  # a dry run of the service on the fields the form accepted (form_valid)
        fields = {name: value for name, value in data.items() if name in services.DESTINATION_FIELDS}
        services.push_destination_update(actor=request.user, destination=_destination(request, pk),
                                         secret=data.get("secret", ""), **fields)  # fmt: skip

    if request.method == "POST" and form_valid(form, check):
        data = {name: value for name, value in form.cleaned_data.items() if name in services.DESTINATION_FIELDS}
        destination.refresh_from_db()  # the form wrote its values on the instance; the service compares
        with service_call(request, form) as call:
            services.push_destination_update(actor=request.user, destination=destination,
                                             secret=form.cleaned_data.get("secret", ""), **data)  # fmt: skip
        if call.ok:
            messages.success(request, _("Saved."))
            return redirect("export_push_detail", pk=destination.pk)
    context = {"title": _("Edit %(name)s") % {"name": destination.name}, "form": form,
               "cancel_url": reverse("export_push_detail", args=[destination.pk])}  # fmt: skip
    return render(request, "portal/form_page.html", context)


@role_required(*OPERATORS)
def export_push_delete(request: HttpRequest, pk: int) -> HttpResponse:
    destination = _destination(request, pk)
    return confirm_then(
        request,
        lambda: services.push_destination_delete(actor=request.user, destination=destination),
        question=_("Delete the CDR push %(name)s (%(address)s)? Files already sent stay.")
        % {"name": destination.name, "address": destination.address},
        submit=_("Delete"),
        done=_("Deleted."),
        done_url=reverse("export_push_list"),
        back_url=reverse("export_push_detail", args=[destination.pk]),
        title=_("Delete %(name)s") % {"name": destination.name},
    )


@role_required(*OPERATORS)
def export_push_run(request: HttpRequest, pk: int) -> HttpResponse:
    destination = _destination(request, pk)
    if request.method != "POST":
        return redirect("export_push_detail", pk=destination.pk)
    with service_call(request) as call:
        outcome = services.push_destination_run_now(actor=request.user, destination=destination)
    if call.ok and outcome == "queued":
        messages.success(request, _("A push to this server is running now; this run starts as soon as it ends. "
                                    "Reload this page to see its file."))  # fmt: skip
    elif call.ok:
        messages.success(request, _("The push starts now; reload this page to see its file."))
    return redirect("export_push_detail", pk=destination.pk)
