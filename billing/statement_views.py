"""Monthly statements in the portals: god sees every client's, a brand its clients', a client's
operators their own (billing/statements.py); each viewable as a page and downloadable as CSV."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from billing.csvio import csv_response
from billing.statements import (
    STATEMENT_COLUMNS,
    parse_month,
    statement_clients,
    statement_for,
    statement_summaries,
)
from tenants.models import Client, Role
from tenants.views.common import role_required

VIEWERS = (Role.GOD, Role.BRAND, Role.CLIENT)
MONTHS_SHOWN = 12


def _months_back(month: dt.date, count: int) -> list[dt.date]:
    months = [month]
    while len(months) < count:
        first = months[-1]
        months.append((first - dt.timedelta(days=1)).replace(day=1))
    return months


@role_required(*VIEWERS)
def statement_list(request: HttpRequest) -> HttpResponse:
    """Providers: one line per client for the chosen month; a client: its last twelve months."""
    try:
        month = parse_month(request.GET.get("month"))
        error = ""
    except ValidationError as exc:
        month, error = parse_month(None), exc.message_dict["month"][0]
    if request.user.role == Role.CLIENT:
        rows = [line for m in _months_back(month, MONTHS_SHOWN) for line in statement_summaries(request.user, month=m)]
    else:
        rows = statement_summaries(request.user, month=month)
    context = {
        "title": _("Statements"),
        "month": f"{month:%Y-%m}",
        "rows": rows,
        "error": error,
        "providers": request.user.role != Role.CLIENT,
    }
    return render(request, "billing/statement_list.html", context)


def _statement(request: HttpRequest, pk: int, month: str):
    try:
        first = parse_month(month)
    except ValidationError as exc:
        raise Http404(_("No such month.")) from exc
    client = statement_clients(request.user).filter(pk=pk).first()
    if client is None:
        raise Http404(f"No {Client._meta.verbose_name} matches the given query.")
    return statement_for(client=client, month=first)


@role_required(*VIEWERS)
def statement_detail(request: HttpRequest, pk: int, month: str) -> HttpResponse:
    statement = _statement(request, pk, month)
    context = {
        "title": _("Statement of %(client)s, %(month)s")
        % {"client": statement.client.name, "month": date_format(statement.month, "YEAR_MONTH_FORMAT")},
        "s": statement,
        "month": f"{statement.month:%Y-%m}",
        "providers": request.user.role != Role.CLIENT,
    }
    return render(request, "billing/statement_detail.html", context)


@role_required(*VIEWERS)
def statement_csv(request: HttpRequest, pk: int, month: str) -> HttpResponse:
    statement = _statement(request, pk, month)
    return csv_response(
        request,
        STATEMENT_COLUMNS,
        statement.csv_rows(),
        filename=f"statement-{statement.client.slug}-{statement.month:%Y-%m}.csv",
    )
