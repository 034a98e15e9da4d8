"""Operator accounts: each level manages its own operators and those of the level below."""

from __future__ import annotations

from copy import copy

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenants.forms import AccountForm, OperatorCreateForm
from tenants.models import Role, User
from tenants.services import (
    account_set_password,
    account_unlock,
    account_update,
    operator_check_new,
    operator_create,
    operator_delete,
)
from tenants.views.common import (
    confirm_then,
    every_error,
    form_valid,
    mark_signin_locks,
    paginated,
    role_required,
    service_call,
)

OPERATORS = (Role.GOD, Role.BRAND, Role.CLIENT)


def _operators(actor: User):
    return User.objects.restrict(actor).exclude(role=Role.USER).select_related("brand", "client")


OPERATOR_SORT = {"email": "email", "name": "name", "role": "role", "active": "is_active"}


@role_required(*OPERATORS)
def operator_list(request: HttpRequest) -> HttpResponse:
    context = {
        "title": _("Operators"),
        **paginated(request, _operators(request.user), ["email", "name"], sort=OPERATOR_SORT),
    }
    mark_signin_locks(context["rows"])
    return render(request, "portal/operators/list.html", context)


@role_required(*OPERATORS)
def operator_create_view(request: HttpRequest) -> HttpResponse:
    form = OperatorCreateForm(request.POST or None, actor=request.user)
    fixed_role = None if "role" in form.fields else Role.CLIENT

    def check(data: dict) -> None:  # the service's checks of the fields the form accepted (form_valid)
        operator_check_new(actor=request.user, role=data.get("role", fixed_role), email=data.get("email"),
                           name=data.get("name"), password=data.get("password"), brand=data.get("brand"),
                           client=data.get("client"))  # fmt: skip

    if request.method == "POST" and form_valid(form, check):
        data = form.cleaned_data
        with service_call(request, form) as call:
            account = operator_create(
                actor=request.user,
                role=data.get("role", Role.CLIENT),
                email=data["email"],
                name=data["name"],
                password=data["password"],
                brand=data.get("brand"),
                client=data.get("client"),
            )
        if call.ok:
            messages.success(
                request, _("%(role)s %(email)s created.") % {"role": account.get_role_display(), "email": account.email}
            )
            return redirect("operator_list")
    context = {
        "title": _("New operator"),
        "form": form,
        "submit": _("Create operator"),
        "cancel_url": reverse("operator_list"),
    }
    return render(request, "portal/form_page.html", context)


@role_required(*OPERATORS)
def operator_update_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename, change the e-mail, (de)activate or set a new password for an operator."""
    account = _operators(request.user).get_for(request.user, pk=pk)
    own = account.pk == request.user.pk
    initial = {"name": account.name, "email": account.email, "is_active": account.is_active}
    form = AccountForm(request.POST or None, initial=initial, own=own)

    def save(data: dict) -> None:
        """Account and password, each refusing its own fields; a field the form refused keeps its
        current value (for the check of the others)."""
        data = {**initial, **data}
        with every_error() as attempt:
            fields = {name: data[name] for name in ("name", "email", "is_active") if data.get(name) != initial[name]}
            attempt(account_update, actor=request.user, account=copy(account), **fields)
            if data.get("password"):
                attempt(account_set_password, actor=request.user, account=copy(account), password=data["password"])

    if request.method == "POST" and form_valid(form, save):
        with service_call(request, form) as call:
            save(form.cleaned_data)
        if call.ok:
            messages.success(request, _("%(email)s saved.") % {"email": account.email})
            return redirect("operator_list")
        account.refresh_from_db()
    mark_signin_locks([account])
    context = {
        "title": _("Operator %(email)s") % {"email": account.email},
        "form": form,
        "account": account,
        "own": own,
    }
    return render(request, "portal/operators/detail.html", context)


@require_POST
@role_required(*OPERATORS)
def operator_unlock_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Lift the sign-in lock that wrong passwords put on an operator's account."""
    account = _operators(request.user).get_for(request.user, pk=pk)
    with service_call(request) as call:
        account_unlock(actor=request.user, account=account)
    if call.ok:
        messages.success(request, _("%(email)s may sign in again.") % {"email": account.email})
    return redirect("operator_list")


@role_required(*OPERATORS)
def operator_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    account = _operators(request.user).get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: operator_delete(actor=request.user, account=account),
        title=_("Delete %(email)s") % {"email": account.email},
        question=_("Delete the operator account %(email)s (%(name)s)? They can no longer sign in.")
        % {"email": account.email, "name": account.name},
        submit=_("Delete operator"),
        done=_("%(email)s deleted.") % {"email": account.email},
        done_url=reverse("operator_list"),
        back_url=reverse("operator_update", args=[account.pk]),
    )
