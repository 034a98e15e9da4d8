"""What the services saving a client's configuration rows (menus, rule sets, ring groups, queues...)
share: every bad field collected and raised at once (`add`), and the fields sent set on the row
(`take`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def add(errors: dict, name: str, messages) -> None:
    """Collect a field's error (or errors) in `errors`, field name -> messages, to raise them all at once."""
    errors.setdefault(name, []).extend([messages] if isinstance(messages, str) else messages)


def take(item, fields: dict, allowed, errors: dict, *, none_as=None) -> None:
    """Set the `fields` sent on `item`, strings stripped (None as `none_as` when given). A field not in
    `allowed` refuses the whole change (ValidationError naming each); a string holding a NUL character
    is a field error and is not set."""
    refused = set(fields) - set(allowed)
    if refused:
        raise ValidationError({name: _("You may not change this field.") for name in sorted(refused)})
    for name, value in fields.items():
        if isinstance(value, str) and "\x00" in value:
            add(errors, name, _("Must not contain NUL characters."))
            continue
        if value is None and none_as is not None:
            value = none_as
        setattr(item, name, value.strip() if isinstance(value, str) else value)
