"""The Usage page in every portal, each in its scope (billing/usage.py): the provider per brand or
company, a brand per company with a person breakdown, an operator the company's people, a user their
own; with the date range and service filter, totals, links to the details, two bar charts drawn by
the server (billing/charts.py; drawn again by static/charts.js where scripts run), and the table as
CSV. Days are whole days in the portal's time zone (a client's own, else UTC); the current month by
default."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from billing.charts import NO_CALLS, bar_chart
from billing.csvio import csv_response
from billing.forms import UsageForm
from billing.usage import (
    COLUMNS,
    UsageFilterError,
    groups_for,
    shows_price,
    usage_records,
    usage_rows,
    usage_series,
    usage_totals,
)
from conferencing.reports import minutes
from tenants.models import Role
from tenants.views.common import paginated, role_required

EVERYONE = (Role.GOD, Role.BRAND, Role.CLIENT, Role.USER)
PROVIDERS = (Role.GOD, Role.BRAND)


def _form(request: HttpRequest) -> UsageForm:
    """The filter from the query; without days, the current month so far."""
    return UsageForm(UsageForm.month_so_far(request.GET), actor=request.user)


def _query(form: UsageForm, **more) -> str:
    service = form.cleaned_data.get("service")
    return form.query(**{"service": service if service != "all" else None, **more})


def _usage(request: HttpRequest) -> tuple[UsageForm, str, list[dict] | None]:
    """The form, its grouping and the rows (None when the filter is wrong; errors go on the form)."""
    form = _form(request)
    if not form.is_valid():
        return form, "", None
    group = form.cleaned_data.get("group") or groups_for(request.user)[0]
    try:
        return form, group, usage_rows(request.user, group=group, **form.filters())
    except UsageFilterError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return form, group, None


def _link(request: HttpRequest, form: UsageForm, group: str, row: dict) -> str:
    """Where a row leads: a company to its people, a conference moderator to the conference report,
    a person's calls or notifications to the list of those calls."""
    if group == "company":
        return reverse("usage_page") + "?" + _query(form, group="person", client=row["client_id"])
    if group != "person" or not row["person_id"]:
        return ""
    client = row["client_id"] if request.user.role in PROVIDERS else None
    if row["service"] == "conference":
        return reverse("report_detail") + "?" + _query(form, moderator=row["person_id"], client=client)
    query = _query(form, client=client, person=row["person_id"])
    return reverse("usage_calls") + "?" + query + ("" if "service=" in query else f"&service={row['service']}")


def _charts(request: HttpRequest, form: UsageForm) -> dict:
    try:
        series = usage_series(request.user, **form.filters())
    except UsageFilterError as exc:
        form.add_error(exc.field, exc.message)
        return {}
    days = [(p["day"].isoformat(), str(p["day"].day), p["minutes"]) for p in series["minutes_per_day"]]
    hours = [(f"{p['hour']:02d}:00", str(p["hour"]), p["calls"]) for p in series["calls_per_hour"]]
    if not any(value for *_, value in days + hours):  # one small line, not two blank charts
        return {"charts_empty": gettext(NO_CALLS)}
    zone = timezone.get_current_timezone_name()
    return {
        "minutes_chart": bar_chart(
            chart_id="minutes-per-day",
            title=gettext("Minutes per day"),
            points=days,
            unit=gettext("min"),
            axis=gettext("Day"),
            empty=gettext("No minutes in this period."),
        ),
        "calls_chart": bar_chart(
            chart_id="calls-per-hour",
            title=gettext("Calls per hour of day (%(zone)s)") % {"zone": zone},
            points=hours,
            unit=gettext("calls"),
            axis=gettext("Hour (%(zone)s)") % {"zone": zone},
        ),
    }


@role_required(*EVERYONE)
def usage_page(request: HttpRequest) -> HttpResponse:
    form, group, rows = _usage(request)
    context = {"title": gettext("Usage"), "form": form, "group": group, "rows": rows or [],
               "price": shows_price(request.user), "providers": request.user.role in PROVIDERS}  # fmt: skip
    if rows is not None:
        for row in rows:
            row["link"] = _link(request, form, group, row)
        more = {k: form.cleaned_data.get(k) for k in ("group", "client", "person")}
        context.update(totals=usage_totals(rows), query=_query(form, **more), **_charts(request, form))
    return render(request, "billing/usage.html", context)


@role_required(*EVERYONE)
def usage_csv(request: HttpRequest) -> HttpResponse:
    form, group, rows = _usage(request)
    if rows is None:
        return HttpResponseBadRequest(gettext("Check the filter: ") + form.errors.as_text(), content_type="text/plain")
    columns = [c for c in COLUMNS[group] if c != "price" or shows_price(request.user)]
    return csv_response(request, columns, rows, filename=f"usage-{group}.csv")


@role_required(*EVERYONE)
def usage_calls(request: HttpRequest) -> HttpResponse:
    """The calls behind a usage row, newest first: caller, called, when, minutes."""
    form = _form(request)
    context = {"title": gettext("Usage detail"), "form": form, "providers": request.user.role in PROVIDERS, "rows": []}
    if form.is_valid():
        records = usage_records(request.user, **form.filters()).select_related("client").order_by("-started_at", "-id")
        context.update(paginated(request, records, ["caller_number", "caller_name", "callee_number"]))
        context["rows"] = [
            {
                "company": c.client.name,
                "service": c.service,
                "caller_number": c.caller_number,
                "caller_name": c.caller_name,
                "callee_number": c.callee_number,
                "called_at": c.started_at,
                "disconnected_at": c.ended_at,
                "minutes": minutes(c.seconds),  # what the person is billed for (billing.usage)
            }
            for c in context["rows"]
        ]
        context["usage_url"] = reverse("usage_page") + "?" + _query(form)
    return render(request, "billing/usage_calls.html", context)
