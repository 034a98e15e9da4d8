"""Client portal pages for voice menus (the client's operators): the list, a menu's page (its fields
and its keys as rows, every error on its field or row), delete (refused, saying what, while something
points at the menu). Users do not see menus."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from conferencing.models import Message
from menus import services
from menus.forms import MenuForm, OptionRows
from menus.models import Menu
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
