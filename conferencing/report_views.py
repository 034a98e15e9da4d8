"""Portal pages for conference usage, in every portal with its own scope (conferencing/reports.py):
the provider sees every company, a brand its companies, an operator the company, a moderator the
conferences of their rooms. Usage per company and moderator with totals, the per-conference report
(one row per join), both as CSV. The days chosen are whole days in the portal's time zone; the
current month by default."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from billing.csvio import csv_response
from conferencing.forms import JoinsFilterForm, PeriodForm
from conferencing.reports import USAGE_COLUMNS, conference_detail, conference_records, conference_usage
from conferencing.selectors import detail_columns, join_row, usage_totals
from tenants.models import Client, Role
from tenants.views.common import paginated, role_required

EVERYONE = (Role.GOD, Role.BRAND, Role.CLIENT, Role.USER)
PROVIDERS = (Role.GOD, Role.BRAND)


def _filter(request: HttpRequest, form_class: type[PeriodForm]) -> PeriodForm:
    """The report's filter from the query; without one, the current month so far."""
    form = form_class(form_class.month_so_far(request.GET))
    form.fields["since"].label, form.fields["until"].label = _("From"), _("To")  # (the page's language)
    return form


def _usage(request: HttpRequest) -> tuple[PeriodForm, list[dict]]:
    form = _filter(request, PeriodForm)
    return form, conference_usage(request.user, **form.period()) if form.is_valid() else []


@role_required(*EVERYONE)
def report_usage(request: HttpRequest) -> HttpResponse:
    form, rows = _usage(request)
    providers = request.user.role in PROVIDERS
    for row in rows:
        row["detail_query"] = form.query(moderator=row["moderator_id"], client=row["client_id"] if providers else "")
    context = {"title": _("Conference usage"), "form": form, "rows": rows, "totals": usage_totals(rows),
               "providers": providers, "query": form.query() if form.is_valid() else ""}  # fmt: skip
    return render(request, "conferencing/report_usage.html", context)


@role_required(*EVERYONE)
def report_usage_csv(request: HttpRequest) -> HttpResponse:
    form, rows = _usage(request)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Check the days: ") + form.errors.as_text(), content_type="text/plain")
    return csv_response(request, USAGE_COLUMNS, rows, filename="conference-usage.csv")


def _joins(request: HttpRequest) -> tuple[JoinsFilterForm, object]:
    form = _filter(request, JoinsFilterForm)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    joins = conference_detail(request.user, conference=data["conference"].strip(), client_id=data["client"],
                              moderator_id=data["moderator"], **form.period())  # fmt: skip
    return form, joins.select_related("client")


@role_required(*EVERYONE)
def report_detail(request: HttpRequest) -> HttpResponse:
    form, joins = _joins(request)
    context = {"title": _("Conference report"), "form": form, "providers": request.user.role in PROVIDERS}
    if joins is None:
        context.update(rows=[], page=None, q="")
    else:
        data = form.cleaned_data
        context.update(paginated(request, joins, ["caller_number", "caller_name"]))
        context["rows"] = [join_row(cdr) for cdr in context["rows"]]
        for row in context["rows"]:
            row["conference_query"] = form.query(conference=row["conference"], client=row["client_id"])
        narrowed = []
        if data["client"]:
            company = Client.objects.restrict(request.user).filter(pk=data["client"]).first()
            narrowed.append(_("company %(name)s") % {"name": company.name if company else data["client"]})
        if data["moderator"]:
            # The name from a join the actor may see: an id from the query names nobody else.
            records = conference_records(request.user).filter(moderator_id=data["moderator"])
            name = records.values_list("moderator__name", flat=True).first()
            narrowed.append(_("moderator %(name)s") % {"name": name or data["moderator"]})
        if data["conference"]:
            narrowed.append(_("conference %(id)s") % {"id": data["conference"]})
        context["narrowed"] = narrowed
        context["query"] = form.query(conference=data["conference"], moderator=data["moderator"],
                                  client=data["client"])  # fmt: skip
        context["usage_url"] = reverse("report_usage") + "?" + form.query()
    return render(request, "conferencing/report_detail.html", context)


@role_required(*EVERYONE)
def report_detail_csv(request: HttpRequest) -> HttpResponse:
    form, joins = _joins(request)
    if joins is None:
        return HttpResponseBadRequest(_("Check the filter: ") + form.errors.as_text(), content_type="text/plain")
    rows = (join_row(cdr) for cdr in joins.iterator())
    return csv_response(request, detail_columns(request.user), rows, filename="conference-report.csv")
