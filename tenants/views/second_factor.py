"""An account's second factor page: set up the authenticator app, recovery codes shown once, turn it
off; operators also require a second factor for their scope here, and reset another account's."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from tenants.models import Role, User
from tenants.second_factor import (
    VERIFIED,
    WRONG_CODE,
    pending_factor,
    provisioning,
    recovery_codes_left,
    second_factor_begin,
    second_factor_confirm,
    second_factor_of,
    second_factor_remove,
    second_factor_required,
    second_factor_rule_of,
    second_factor_rule_set,
    second_factor_verify,
)
from tenants.signin import SignInLocked, attempt_reserve, client_address, signin_succeeded
from tenants.views.account import EVERYONE
from tenants.views.common import role_required, service_call, show_once, take_once

CODES_SLOT = "recovery-codes"
SCOPE_NAMES = {Role.GOD: gettext_lazy("everyone on the platform"),
               Role.BRAND: gettext_lazy("this brand's operators and its clients' accounts"),
               Role.CLIENT: gettext_lazy("every account of this client")}  # fmt: skip


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class RuleForm(forms.Form):
    required = forms.BooleanField(required=False, label=gettext_lazy("Require a second factor"))


def _code_checked(request: HttpRequest, form: CodeForm) -> bool:
    """A right code of the signed-in account, wrong ones counted like at sign-in."""
    user, address = request.user, client_address(request)
    seconds = attempt_reserve(kind="code-", config=settings.OCX_SECOND_FACTOR, email=user.email, address=address)
    if seconds > 0:
        form.add_error(None, SignInLocked(seconds).message)
        return False
    if not second_factor_verify(account=user, code=form.cleaned_data["code"]):
        form.add_error("code", _(WRONG_CODE))
        return False
    signin_succeeded(email=user.email, address=address, kind="code-")
    return True


@sensitive_post_parameters("code")
@role_required(*EVERYONE)
def second_factor_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    action = request.POST.get("action") if request.method == "POST" else None
    code_form = CodeForm(request.POST if action in ("confirm", "remove") else None)
    rule_form = RuleForm(request.POST if action == "rule" else None, initial={"required": second_factor_rule_of(user)}
                         if user.is_operator else None)  # fmt: skip
    if action == "begin":
        with service_call(request):
            second_factor_begin(actor=user)
        return redirect("account_second_factor")
    if action == "confirm" and code_form.is_valid():
        with service_call(request, code_form) as call:
            codes = second_factor_confirm(actor=user, code=code_form.cleaned_data["code"])
        if call.ok:
            request.session[VERIFIED] = True
            show_once(request, CODES_SLOT, "\n".join(codes))
            messages.success(request, _("Second factor on: sign-ins now ask for a code from your app."))
            return redirect("account_second_factor")
    if action == "remove" and code_form.is_valid() and _code_checked(request, code_form):
        with service_call(request) as call:
            second_factor_remove(actor=user, account=user)
        if call.ok:
            messages.success(request, _("Second factor off: sign-ins ask for your password only."))
            return redirect("account_second_factor")
    if action == "rule" and user.is_operator and rule_form.is_valid():
        with service_call(request, rule_form) as call:
            second_factor_rule_set(actor=user, required=rule_form.cleaned_data["required"])
        if call.ok:
            messages.success(request, _("Saved."))
            return redirect("account_second_factor")
    factor = second_factor_of(user)
    pending = pending_factor(user) if factor is None else None
    codes = take_once(request, CODES_SLOT) if request.method == "GET" else None
    context = {
        "title": _("Second factor"),
        "factor": factor,
        "setup": provisioning(pending, issuer=request.portal.title) if pending else None,
        "codes_left": recovery_codes_left(user) if factor else 0,
        "new_codes": codes.split("\n") if codes else None,
        "required": factor is None and second_factor_required(user),
        "form": code_form,
        "rule_form": rule_form if user.is_operator else None,  # only operators have a scope to set a rule for
        "scope_name": SCOPE_NAMES.get(user.role, ""),
    }
    response = render(request, "portal/account/second_factor.html", context)
    add_never_cache_headers(response)
    return response


@require_POST
@role_required(Role.GOD, Role.BRAND, Role.CLIENT)
def second_factor_reset_view(request: HttpRequest, pk: int) -> HttpResponse:
    """An operator turns off the second factor of an account of their scope (a lost phone)."""
    account = get_object_or_404(User.objects.restrict(request.user).exclude(pk=request.user.pk), pk=pk)
    with service_call(request) as call:
        second_factor_remove(actor=request.user, account=account)
    if call.ok:
        messages.success(
            request, _("Second factor of %(email)s reset: they sign in with their password.") % {"email": account.email}
        )
    back = request.POST.get("back", "")
    return redirect(back if url_has_allowed_host_and_scheme(back, {request.get_host()}) else "home")
