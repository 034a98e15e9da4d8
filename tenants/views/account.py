"""Every account's own pages: profile, password and API tokens."""

from __future__ import annotations

from copy import copy

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from tenants.forms import AccountForm, PasswordForm, TokenForm, changes
from tenants.i18n import language_of_account, remember_language
from tenants.models import ApiToken, Role, User
from tenants.services import account_set_password, account_update, token_create, token_revoke, token_revoke_all
from tenants.signin import client_address
from tenants.views.common import form_valid, role_required, service_call, show_once, take_once

EVERYONE = tuple(Role.values)
NEW_KEY = "api-key"


@role_required(*EVERYONE)
def profile(request: HttpRequest) -> HttpResponse:
    """One's own name, e-mail and language."""
    user = request.user
    initial = {"name": user.name, "email": user.email, "language": user.language}
    default = language_of_account(_without_language(user))  # what "Default" stands for
    form = AccountForm(request.POST or None, initial=initial, own=True, default_language=default)

    def check(data: dict) -> None:  # the e-mail's checks when the name is refused (form_valid)
        fields = {name: value for name, value in data.items() if value != initial[name]}
        account_update(actor=user, account=copy(user), **fields)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            account_update(actor=user, account=user, **changes(form, "name", "email", "language"))
        if call.ok:
            language = language_of_account(user)
            with translation.override(language):  # the next page speaks the new language already
                messages.success(request, _("Profile saved."))
            response = redirect("account_profile")
            remember_language(response, language)
            return response
        user.refresh_from_db()
    return render(request, "portal/account/profile.html", {"title": _("My account"), "form": form})


def _without_language(user: User) -> User:
    account = copy(user)
    account.language = ""
    return account


@role_required(*EVERYONE)
def password(request: HttpRequest) -> HttpResponse:
    """Change one's password: the current one, then the new one twice; this session stays signed in,
    the others end (and, when asked, the API tokens are revoked)."""
    form = PasswordForm(request.user, request.POST or None, address=client_address(request))
    if request.method == "POST" and form.is_valid():
        revoked = 0
        with service_call(request, form, rename={"password": "new_password1"}) as call:
            account_set_password(actor=request.user, account=request.user, password=form.cleaned_data["new_password1"])
            if form.cleaned_data["sign_out_elsewhere"]:
                revoked = token_revoke_all(actor=request.user)
        if call.ok:
            update_session_auth_hash(request, request.user)
            messages.success(
                request,
                ngettext(
                    "Password changed; %(count)d API token revoked.",
                    "Password changed; %(count)d API tokens revoked.",
                    revoked,
                )
                % {"count": revoked}
                if revoked
                else _("Password changed."),
            )
            return redirect("account_profile")
    context = {"title": _("Change password"), "form": form, "submit": _("Change password")}
    return render(request, "portal/account/password.html", context)


@role_required(*EVERYONE)
def tokens(request: HttpRequest) -> HttpResponse:
    """One's API tokens; a new token's key is shown on the next page, once."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with service_call(request, form) as call:
            token, key = token_create(actor=request.user, name=form.cleaned_data["name"])
        if call.ok:
            show_once(request, NEW_KEY, key)
            messages.success(request, _("Token %(name)s created.") % {"name": token.name})
            return redirect("account_tokens")
    context = {
        "title": _("API tokens"),
        "form": form,
        "tokens": ApiToken.objects.filter(user=request.user),
        "new_key": take_once(request, NEW_KEY) if request.method == "GET" else None,
    }
    response = render(request, "portal/account/tokens.html", context)
    add_never_cache_headers(response)
    return response


@require_POST
@role_required(*EVERYONE)
def token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)  # one's own tokens only
    with service_call(request) as call:
        token_revoke(actor=request.user, token=token)
    if call.ok:
        messages.success(request, _("Token %(name)s revoked: it no longer opens the API.") % {"name": token.name})
    return redirect("account_tokens")
