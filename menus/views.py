"""Client portal pages for voice menus and call routing rule sets (the client's operators): the list,
a menu's page (its fields and its keys as rows, every error on its field or row), a rule set's (its
rules as rows, in order), delete (refused, saying what, while something points at it). Users do not
see them."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from conferencing.models import Message
from menus import routing, services
from menus.forms import MenuForm, OptionRows, RuleRows, RuleSetForm
from menus.models import Menu, RuleSet
from telephony.models import Schedule
from tenants.errors import PlatformError
from tenants.models import Role
from tenants.views.common import confirm_then, errors_to_rows, own_client, paginated, role_required


@role_required(Role.CLIENT)
def menu_list(request: HttpRequest) -> HttpResponse:
    menus = Menu.objects.restrict(request.user).select_related("greeting_message").prefetch_related("options")
    context = {"title": _("Menus"), **paginated(request, menus, ["name"])}
    return render(request, "menus/menu_list.html", context)


@role_required(Role.CLIENT)
def menu_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    menu = Menu.objects.get_for(request.user, pk=pk) if pk is not None else None
    library = Message.objects.filter(recorded=True).order_by("name")
    form = MenuForm(request.POST or None, menu=menu, messages=library)
    initial = [{"key": o.key, "destination_kind": o.destination_kind, "destination_target": o.destination_target}
               for o in menu.options.all()] if menu else []  # fmt: skip
    rows = OptionRows(request.POST or None, initial=initial, prefix="options")
    if request.method == "POST" and form.is_valid() and rows.is_valid():
        filled = [row for row in rows.forms if row.filled()]
        try:
            with transaction.atomic():
                saved = services.menu_save(actor=request.user, client=own_client(request), menu=menu,
                                           options=[row.cleaned_data for row in filled], **form.values())  # fmt: skip
        except ValidationError as error:
            errors_to_rows(error, form, filled, rows="options")
        except PlatformError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Menu %(name)s saved.") % {"name": saved.name})
            return redirect("menu_list")
    title = _("Menu %(name)s") % {"name": menu.name} if menu else _("New menu")
    return render(request, "menus/menu_form.html", {"title": title, "form": form, "rows": rows, "menu": menu})


@role_required(Role.CLIENT)
def menu_delete(request: HttpRequest, pk: int) -> HttpResponse:
    menu = Menu.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.menu_delete(actor=request.user, client=own_client(request), menu=menu),
        title=_("Delete menu %(name)s") % {"name": menu.name},
        question=_("Delete the menu %(name)s?") % {"name": menu.name},
        submit=_("Delete menu"),
        done=_("Menu %(name)s deleted.") % {"name": menu.name},
        done_url=reverse("menu_list"),
        back_url=reverse("menu_edit", args=[pk]),
    )


@role_required(Role.CLIENT)
def route_list(request: HttpRequest) -> HttpResponse:
    rule_sets = RuleSet.objects.restrict(request.user).prefetch_related("rules")
    context = {"title": _("Call routing"), **paginated(request, rule_sets, ["name"])}
    return render(request, "menus/route_list.html", context)


@role_required(Role.CLIENT)
def route_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule_set = RuleSet.objects.get_for(request.user, pk=pk) if pk is not None else None
    form = RuleSetForm(request.POST or None, rule_set=rule_set)
    initial = [{"callers": " ".join(r.callers), "dialled": " ".join(r.dialled), "schedule": r.schedule,
                "when_open": "open" if r.when_open else "closed", "destination_kind": r.destination_kind,
                "destination_target": r.destination_target}
               for r in (rule_set.rules.all() if rule_set else [])]  # fmt: skip
    rows = RuleRows(request.POST or None, initial=initial, prefix="rules",
                    form_kwargs={"schedules": Schedule.objects.order_by("name")})  # fmt: skip
    if request.method == "POST" and form.is_valid() and rows.is_valid():
        filled = [row for row in rows.forms if row.filled()]
        try:
            with transaction.atomic():
                saved = routing.route_save(actor=request.user, client=own_client(request), rule_set=rule_set,
                                           rules=[row.cleaned_data for row in filled], **form.cleaned_data)  # fmt: skip
        except ValidationError as error:
            errors_to_rows(error, form, filled, rows="rules")
        except PlatformError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Rule set %(name)s saved.") % {"name": saved.name})
            return redirect("route_list")
    title = _("Rule set %(name)s") % {"name": rule_set.name} if rule_set else _("New rule set")
    return render(request, "menus/route_form.html", {"title": title, "form": form, "rows": rows, "rule_set": rule_set})


@role_required(Role.CLIENT)
def route_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule_set = RuleSet.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: routing.route_delete(actor=request.user, client=own_client(request), rule_set=rule_set),
        title=_("Delete rule set %(name)s") % {"name": rule_set.name},
        question=_("Delete the rule set %(name)s?") % {"name": rule_set.name},
        submit=_("Delete rule set"),
        done=_("Rule set %(name)s deleted.") % {"name": rule_set.name},
        done_url=reverse("route_list"),
        back_url=reverse("route_edit", args=[pk]),
    )
