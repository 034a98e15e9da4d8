"""Portal forms for voice menus: the menu's fields, and its keys as rows (a formset: a blank row is
no key). They only parse input; menus/services.py validates and writes, naming every bad field."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from menus.models import KEYS, MAX_RETRIES, MAX_TIMEOUT, Menu
from telephony import destinations
from telephony.media.prompts import TEXTS


def kind_choices(empty: str) -> list[tuple[str, str]]:
    return [("", empty)] + [(k.name, k.label) for k in destinations.kinds()]


class MenuForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60, required=False)
    greeting_message = forms.TypedChoiceField(label=_("Greeting: a message of the library"), required=False,
                                              coerce=int, empty_value=None)  # fmt: skip
    greeting_prompt = forms.ChoiceField(label=_("Greeting: else a prompt"), required=False)
    direct_dial = forms.BooleanField(label=_("Callers may dial an extension directly"), required=False)
    timeout = forms.IntegerField(label=_("Seconds to wait for a key"), required=False,
                                 help_text=_("1 to %(max)s.") % {"max": MAX_TIMEOUT})  # fmt: skip
    retries = forms.IntegerField(label=_("Retries"), required=False,
                                 help_text=_("How many times the greeting is said again after silence or a wrong "
                                             "key (0 to %(max)s).") % {"max": MAX_RETRIES})  # fmt: skip
    timeout_kind = forms.ChoiceField(label=_("After silence: kind"), required=False)
    timeout_target = forms.CharField(label=_("After silence: target"), max_length=100, required=False)
    invalid_kind = forms.ChoiceField(label=_("After wrong keys: kind"), required=False)
    invalid_target = forms.CharField(label=_("After wrong keys: target"), max_length=100, required=False)

    def __init__(self, *args, menu: Menu | None = None, messages=(), **kwargs):
        if menu is not None:
            names = [name for name in self.base_fields if name != "greeting_message"]
            initial = {name: getattr(menu, name) for name in names}
            kwargs.setdefault("initial", {**initial, "greeting_message": menu.greeting_message_id})
        else:
            kwargs.setdefault("initial", {"timeout": 5, "retries": 2})
        super().__init__(*args, **kwargs)
        self.fields["greeting_message"].choices = [("", _("None"))] + [(m.pk, m.name) for m in messages]
        self.fields["greeting_prompt"].choices = [("", _("None"))] + [
            (name, f"{name}: {text}") for name, text in TEXTS.items() if not name.isdigit()
        ]
        for when in ("timeout", "invalid"):
            self.fields[f"{when}_kind"].choices = kind_choices(_("Goodbye (hang up)"))

    def values(self) -> dict:
        """The cleaned values for the service (empty numbers: the defaults)."""
        data = dict(self.cleaned_data)
        for name, default in (("timeout", 5), ("retries", 2)):
            if data.get(name) is None:
                data[name] = default
        return data


class OptionForm(forms.Form):
    key = forms.ChoiceField(label=_("Key"), required=False, choices=[("", "-")] + [(k, k) for k in KEYS])
    destination_kind = forms.ChoiceField(label=_("Leads to"), required=False)
    destination_target = forms.CharField(label=_("Target"), max_length=100, required=False,
                                         help_text=_("An extension, a box, a menu's id, a number..."))  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["destination_kind"].choices = kind_choices("-")
        for field in self.fields.values():  # (the rows' cells have the table's headings, not labels of their own)
            field.widget.attrs["aria-label"] = field.label

    def filled(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any(data.get(name) for name in ("key", "destination_kind", "destination_target"))


OptionRows = forms.formset_factory(OptionForm, extra=3, max_num=len(KEYS) + 3, absolute_max=len(KEYS) + 3)


class RuleSetForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60, required=False)
    default_kind = forms.ChoiceField(label=_("When no rule matches: kind"), required=False)
    default_target = forms.CharField(label=_("When no rule matches: target"), max_length=100, required=False)

    def __init__(self, *args, rule_set=None, **kwargs):
        if rule_set is not None:
            kwargs.setdefault("initial", {name: getattr(rule_set, name) for name in self.base_fields})
        super().__init__(*args, **kwargs)
        self.fields["default_kind"].choices = kind_choices(_("Nowhere (refuse the call)"))


class RuleForm(forms.Form):
    callers = forms.CharField(label=_("Caller's number"), max_length=2000, required=False,
                              help_text=_("Patterns: 0-9, X any digit, N 2-9, . or * anything more; + first for "
                                          "international numbers."))  # fmt: skip
    dialled = forms.CharField(label=_("Number dialled"), max_length=2000, required=False)
    schedule = forms.TypedChoiceField(label=_("Schedule"), required=False, coerce=int, empty_value=None)
    when_open = forms.TypedChoiceField(label=_("Schedule says"), required=False, coerce=lambda v: v == "open",
                                       empty_value=True,
                                       choices=[("open", _("open")), ("closed", _("closed"))])  # fmt: skip
    destination_kind = forms.ChoiceField(label=_("Sends to"), required=False)
    destination_target = forms.CharField(label=_("Target"), max_length=100, required=False)

    def __init__(self, *args, schedules=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["schedule"].choices = [("", _("Any time"))] + [(s.pk, s.name) for s in schedules]
        self.fields["destination_kind"].choices = kind_choices("-")
        for field in self.fields.values():  # (the rows' cells have the table's headings, not labels of their own)
            field.widget.attrs["aria-label"] = field.label

    def filled(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any(
            data.get(name) for name in ("callers", "dialled", "schedule", "destination_kind", "destination_target")
        )


RuleRows = forms.formset_factory(RuleForm, extra=3, max_num=53, absolute_max=53)
