"""The client's operators' queue pages that read rather than configure: a wallboard per queue and one for
all the client's queues (rendered on the server and refreshed without scripts; live over
/ws/queues/<queue or all>/ with static/wallboard.js), its snapshot as JSON, and a queue's statistics
for chosen days (queues/stats.py) with charts (billing/charts.py), the agents' table and CSV downloads.
Days are whole days in the client's time zone (the portal's); this month so far by default."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from billing.charts import bar_chart
from billing.csvio import csv_response
from queues.models import Queue
from queues.stats import AGENT_COLUMNS, MAX_DAYS, QUEUE_COLUMNS, SHORT_ABANDON, queue_stats
from queues.wallboard import wallboard_snapshot
from tenants.forms import PeriodForm
from tenants.models import Role
from tenants.views.common import own_client, role_required

REFRESH = 10  # seconds between the no-script page's reloads


def _board(request: HttpRequest, pk: int | None) -> tuple[list[Queue] | None, str]:
    if pk is None:
        return None, "all"
    return [Queue.objects.get_for(request.user, pk=pk)], str(pk)


def state_labels() -> dict:
    return {"available": _("available"), "ringing": _("ringing"), "on_call": _("on a call"),
            "wrapup": _("wrap-up"), "paused": _("paused"), "logged_out": _("logged out")}  # fmt: skip


def _labels() -> dict:
    """The words static/wallboard.js writes into the board."""
    return {"states": state_labels(), "waiting": _("waiting"), "offered": _("ringing an agent"),
            "nobody": _("Nobody is waiting."), "within": _("within %(s)s s")}  # fmt: skip


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else (
        f"{seconds // 60}:{seconds % 60:02d}")  # fmt: skip


def _decorate(board: dict) -> dict:
    """The server-rendered board's words and durations (the script ticks them on)."""
    now, labels = board["now"], state_labels()
    board["callers"] = [c for q in board["queues"] for c in q["waiting"]]
    for q in board["queues"]:
        for c in q["waiting"]:
            c["waited"] = duration(now - c["since"])
        q["longest"] = q["waiting"][0]["waited"] if q["waiting"] else ""
    for a in board["agents"]:
        a["state_label"] = labels[a["state"]]
        a["for"] = duration(now - a["since"]) if a["since"] else duration(a["until"] - now) if a["until"] else ""
    return board


@role_required(Role.CLIENT)
def wallboard(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    queues, which = _board(request, pk)
    board = wallboard_snapshot(client=own_client(request), queues=queues)
    title = _("Wallboard: %(name)s") % {"name": queues[0].name} if queues else _("Wallboard: all queues")
    context = {"title": title, "board": _decorate(board), "which": which, "refresh": REFRESH, "labels": _labels()}
    return render(request, "queues/wallboard.html", context)


@role_required(Role.CLIENT)
def wallboard_snapshot_json(request: HttpRequest, pk: int | None = None) -> JsonResponse:
    queues, _which = _board(request, pk)
    return JsonResponse(wallboard_snapshot(client=own_client(request), queues=queues))


class StatsForm(PeriodForm):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until >= since and (until - since).days >= MAX_DAYS:
            self.add_error("until", _("At most %(days)s days at once.") % {"days": MAX_DAYS})
        for name in ("since", "until"):
            if name in data and not data.get(name) and name not in self.errors:
                self.add_error(name, _("Choose a day."))
        return data


def _stats(request: HttpRequest, pk: int) -> tuple[Queue, StatsForm, dict | None]:
    queue = Queue.objects.get_for(request.user, pk=pk)
    form = StatsForm(StatsForm.month_so_far(request.GET))
    if not form.is_valid():
        return queue, form, None
    days = form.cleaned_data
    return queue, form, queue_stats(client=own_client(request), queues=[queue], since=days["since"],
                                    until=days["until"])  # fmt: skip


@role_required(Role.CLIENT)
def queue_stats_page(request: HttpRequest, pk: int) -> HttpResponse:
    queue, form, found = _stats(request, pk)
    context = {"title": _("Statistics: %(name)s") % {"name": queue.name}, "queue": queue, "form": form,
               "short": SHORT_ABANDON}  # fmt: skip
    if found is not None:
        days = found["days"]
        context.update(row=found["queues"][0], agents=found["agents"], days=days, query=form.query())
        if days:
            points = [(d["day"].isoformat(), str(d["day"].day), d["offered"]) for d in days]
            waits = [(d["day"].isoformat(), str(d["day"].day), d["average_wait"] or 0) for d in days]
            context["calls_chart"] = bar_chart(chart_id="queue-calls-per-day", title=_("Callers per day"),
                                               points=points, unit=_("calls"), axis=_("Day"))  # fmt: skip
            context["wait_chart"] = bar_chart(chart_id="queue-wait-per-day", title=_("Average wait per day"),
                                              points=waits, unit=_("s"), axis=_("Day"),
                                              empty=_("Nobody waited in this period."))  # fmt: skip
    return render(request, "queues/stats.html", context)


@role_required(Role.CLIENT)
def queue_stats_csv(request: HttpRequest, pk: int) -> HttpResponse:
    queue, form, found = _stats(request, pk)
    if found is None:
        return HttpResponseBadRequest(_("Check the filter: ") + form.errors.as_text(), content_type="text/plain")
    if request.GET.get("of") == "agents":
        return csv_response(request, AGENT_COLUMNS, found["agents"], filename=f"queue-{queue.pk}-agents.csv")
    return csv_response(request, QUEUE_COLUMNS, found["queues"], filename=f"queue-{queue.pk}-stats.csv")
