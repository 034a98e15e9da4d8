"""Client portal pages for ring groups (the client's operators): the list, a group's page (its fields
and its members as rows, every error on its field or row), delete (refused, saying what, while
something points at the group). Users do not see ring groups."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from ringgroups import services
from ringgroups.forms import MemberRows, RingGroupForm
from ringgroups.models import RingGroup
from tenants.errors import PlatformError
from tenants.models import Role
from tenants.views.common import confirm_then, errors_to_rows, own_client, paginated, role_required


@role_required(Role.CLIENT)
def ring_group_list(request: HttpRequest) -> HttpResponse:
    groups = RingGroup.objects.restrict(request.user).prefetch_related("members")
    context = {"title": _("Ring groups"), **paginated(request, groups, ["name"])}
    return render(request, "ringgroups/ring_group_list.html", context)


@role_required(Role.CLIENT)
def ring_group_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    group = RingGroup.objects.get_for(request.user, pk=pk) if pk is not None else None
    form = RingGroupForm(request.POST or None, group=group)
    initial = [{"kind": m.kind, "target": m.target} for m in group.members.all()] if group else []
    rows = MemberRows(request.POST or None, initial=initial, prefix="members")
    if request.method == "POST" and form.is_valid() and rows.is_valid():
        filled = [row for row in rows.forms if row.filled()]
        try:
            with transaction.atomic():
                saved = services.ring_group_save(actor=request.user, client=own_client(request), group=group,
                                                 members=[row.cleaned_data for row in filled],
                                                 **form.values())  # fmt: skip
        except ValidationError as error:
            errors_to_rows(error, form, filled, rows="members")
        except PlatformError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Ring group %(name)s saved.") % {"name": saved.name})
            return redirect("ring_group_list")
    title = _("Ring group %(name)s") % {"name": group.name} if group else _("New ring group")
    return render(request, "ringgroups/ring_group_form.html", {"title": title, "form": form, "rows": rows,
                                                                "group": group})  # fmt: skip


@role_required(Role.CLIENT)
def ring_group_delete(request: HttpRequest, pk: int) -> HttpResponse:
    group = RingGroup.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.ring_group_delete(actor=request.user, client=own_client(request), group=group),
        title=_("Delete ring group %(name)s") % {"name": group.name},
        question=_("Delete the ring group %(name)s?") % {"name": group.name},
        submit=_("Delete ring group"),
        done=_("Ring group %(name)s deleted.") % {"name": group.name},
        done_url=reverse("ring_group_list"),
        back_url=reverse("ring_group_edit", args=[pk]),
    )
