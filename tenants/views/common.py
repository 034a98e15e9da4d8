"""What every portal view shares: role checks, searchable lists, service errors, values shown once."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from tenants.errors import PlatformError
from tenants.models import Client
from tenants.signin import signin_locks

PAGE_SIZE = 25
ONCE_PREFIX = "ocx-once:"


def role_required(*roles: str) -> Callable:
    """Signed-in accounts of these roles only; any other role gets a 404 (the page is not theirs)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs):
            if request.user.role not in roles:
                raise Http404("No such page.")
            return view(request, *args, **kwargs)

        return login_required(guarded)

    return decorator


def own_client(request: HttpRequest) -> Client:
    """The client of the signed-in operator or user (through its scope: 404 for anyone else)."""
    return Client.objects.get_for(request.user, pk=request.user.client_id)


def search_text(request: HttpRequest) -> str:
    """The ?q= search as the database can take it: bounded, and without NUL (PostgreSQL text holds none)."""
    return request.GET.get("q", "").replace("\x00", "").strip()[:100]


def sort_order(request: HttpRequest, sortable: Mapping[str, str | tuple[str, ...]]) -> tuple[str, list[str]]:
    """The ?sort= of a list (`field` or `-field`) when the list allows it, and its order_by terms.

    `sortable` maps what the address may say to the model's field(s), so nothing else from the address
    reaches order_by: any other value (unknown, hostile, too long) is ignored and the list keeps its order.
    """
    value = request.GET.get("sort", "")[:50]
    key = value.removeprefix("-")
    if not key or key not in sortable:
        return "", []
    fields = sortable[key]
    fields = (fields,) if isinstance(fields, str) else fields
    descending = value.startswith("-")
    return value, [f"-{field}" if descending else field for field in fields]


def paginated(
    request: HttpRequest,
    queryset: QuerySet,
    search: Iterable[str],
    per_page: int = PAGE_SIZE,
    sort: Mapping[str, str | tuple[str, ...]] | None = None,
) -> dict:
    """One page of a list, narrowed by the ?q= search over the given fields and ordered by ?sort= among
    the `sort` columns (portal/sort_th.html makes their header links): the template context."""
    q = search_text(request)
    if q:
        condition = Q()
        for name in search:
            condition |= Q(**{f"{name}__icontains": q})
        queryset = queryset.filter(condition)
    sorting, order = sort_order(request, sort or {})
    if order:  # the primary key last: equal values keep one order from page to page
        queryset = queryset.order_by(*order, "pk")
    page = Paginator(queryset, per_page).get_page(request.GET.get("page"))
    return {"page": page, "rows": page.object_list, "q": q, "sort": sorting}


def mark_signin_locks(rows: Iterable, account_of: Callable = lambda row: row) -> None:
    """Give each row `signin_locked_minutes`: how long its account stays locked out of signing in
    after wrong passwords (tenants/signin.py), 0 when it is not."""
    rows = list(rows)
    locks = signin_locks([account_of(row).email for row in rows])
    for row in rows:
        row.signin_locked_minutes = math.ceil(locks.get(account_of(row).email, 0) / 60)


def errors_to_form(form: forms.Form, exc: ValidationError, rename: dict[str, str] | None = None) -> None:
    """Put a service's ValidationError on the form: each key on its field, the rest above the form."""
    rename = rename or {}
    items = exc.message_dict.items() if hasattr(exc, "error_dict") else [(NON_FIELD_ERRORS, exc.messages)]
    for key, errors in items:
        key = rename.get(key, key)
        if key in form.fields:
            form.add_error(key, errors)
        elif key == NON_FIELD_ERRORS:
            form.add_error(None, errors)
        else:
            label = key.replace("_", " ").capitalize()
            form.add_error(None, [f"{label}: {error}" for error in errors])


def errors_to_rows(error: ValidationError, form: forms.Form, filled: list, *, rows: str) -> None:
    """A service's errors on a form with rows (a formset: a menu's keys, a group's members), each on its
    field: `<rows>.<n>.<field>` on the n-th filled row's field, the others on the form's."""
    for name, texts in error.message_dict.items():
        if name.startswith(f"{rows}."):
            _rows, n, field = [*name.split(".", 2), ""][:3]
            row = filled[int(n)] if n.isdigit() and int(n) < len(filled) else None
            if row is not None:
                for text in texts:
                    row.add_error(field if field in row.fields else None, text)
                continue
        for text in texts:
            form.add_error(name if name in form.fields else None, text)


class _CheckPassed(Exception):
    pass


def form_valid(
    form: forms.Form, check: Callable[[dict], object] | None = None, rename: dict[str, str] | None = None
) -> bool:
    """Whether a POSTed form may go to its service; when it may not, every bad field has its error now.

    A form's own checks (required, length, format) stop the service from running, so the service's
    checks (in use, too short a password, a bad logo) would only show on the next submission. `check`
    is the service's validation without the write: it gets the values that passed the form's checks and
    raises one ValidationError with everything it refuses among them; errors on fields that already have
    the form's error, and refusals that are not a field's (PlatformError), are left for later.
    """
    if form.is_valid():
        return True
    if check is not None and form.is_bound:
        rename = rename or {}
        failed = set(form.errors)
        try:
            with transaction.atomic():
                check(dict(form.cleaned_data))
                raise _CheckPassed  # a check writes nothing, whatever it does: its savepoint is undone
        except _CheckPassed:
            pass
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                rest = {key: errors for key, errors in exc.message_dict.items() if rename.get(key, key) not in failed}
                if rest:
                    errors_to_form(form, ValidationError(rest), rename)
        except PlatformError:
            pass
    return False


@contextmanager
def every_error() -> Iterator[Callable]:
    """Several service calls behind one form, each refusing its own fields: `attempt(service, ...)`
    runs one (in a savepoint, so a refusal leaves nothing of it), and at the end one ValidationError
    holds every call's refusals, so the person sees all of them at once. Inside `service_call`, whose
    transaction then undoes the calls that went through."""
    errors: dict[str, list[str]] = {}

    def attempt(service: Callable, *args, **kwargs):
        try:
            with transaction.atomic():
                return service(*args, **kwargs)
        except ValidationError as exc:
            for key, messages in (
                exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
            ).items():
                errors.setdefault(key, []).extend(messages)

    yield attempt
    if errors:
        raise ValidationError(errors)


@dataclass
class Outcome:
    ok: bool = False


@contextmanager
def service_call(
    request: HttpRequest, form: forms.Form | None = None, rename: dict[str, str] | None = None
) -> Iterator[Outcome]:
    """Run service calls as one transaction; turn their refusals into form errors or messages.

    `with service_call(request, form) as call: ...` then `if call.ok:`. A ValidationError lands on
    the form (or in a message when there is no form), a PlatformError in an error message.
    """
    outcome = Outcome()
    try:
        with transaction.atomic():
            yield outcome
    except ValidationError as exc:
        if form is not None:
            errors_to_form(form, exc, rename)
        else:
            for error in exc.messages:
                messages.error(request, error)
    except PlatformError as exc:
        messages.error(request, exc.message)
    else:
        outcome.ok = True


def confirm_then(
    request: HttpRequest,
    act: Callable[[], object],
    *,
    question: str,
    submit: str,
    done: str,
    done_url: str,
    back_url: str,
    title: str,
) -> HttpResponse:
    """A confirmation page; on POST run the service `act`, then go to done_url (or back, on refusal)."""
    if request.method == "POST":
        with service_call(request) as call:
            act()
        if call.ok:
            messages.success(request, done)
            return redirect(done_url)
        return redirect(back_url)
    context = {"title": title, "question": question, "submit": submit, "cancel_url": back_url}
    return render(request, "portal/confirm.html", context)


def show_once(request: HttpRequest, slot: str, value: str) -> None:
    """Keep a secret for the next page view only (SIP secret, API key): it is never stored elsewhere."""
    request.session[ONCE_PREFIX + slot] = value


def take_once(request: HttpRequest, slot: str) -> str | None:
    """The secret kept by show_once, removed as it is read: a reload no longer shows it."""
    return request.session.pop(ONCE_PREFIX + slot, None)
