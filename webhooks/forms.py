"""Portal forms for webhooks. They only parse input; webhooks/services.py validates and writes,
naming every bad field."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from menus.forms import kind_choices
from webhooks.models import DEFAULT_TIMEOUT_MS, EVENTS, MAX_TIMEOUT_MS, MIN_TIMEOUT_MS, Endpoint, RoutingWebhook


class EventsField(forms.MultipleChoiceField):
    """Checkboxes whose values the service checks (with the other fields: every error at once)."""

    def validate(self, value) -> None:
        pass


class EndpointForm(forms.Form):
    url = forms.CharField(
        label=_("URL"), max_length=500, required=False,
        help_text=_("https://, on a public address; the platform POSTs the events there."),
    )  # fmt: skip
    description = forms.CharField(label=_("Description"), max_length=100, required=False)
    events = EventsField(label=_("Events"), required=False, widget=forms.CheckboxSelectMultiple,
                                       choices=[(e, e) for e in EVENTS])  # fmt: skip
    enabled = forms.BooleanField(label=_("Enabled"), required=False)

    def __init__(self, *args, endpoint: Endpoint | None = None, **kwargs):
        if endpoint is not None:
            kwargs.setdefault("initial", {name: getattr(endpoint, name) for name in self.base_fields})
        else:
            kwargs.setdefault("initial", {"enabled": True, "events": ["call.ringing", "call.answered", "call.ended"]})
        super().__init__(*args, **kwargs)


class RoutingWebhookForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60, required=False)
    url = forms.CharField(label=_("URL"), max_length=500, required=False,
                          help_text=_("https://, on a public address; it answers where each call goes."))  # fmt: skip
    timeout_ms = forms.IntegerField(label=_("Timeout (ms)"), required=False,
                                    help_text=_("%(low)s to %(high)s; a later answer sends the call to the fallback.")
                                    % {"low": MIN_TIMEOUT_MS, "high": MAX_TIMEOUT_MS})  # fmt: skip
    fallback_kind = forms.ChoiceField(label=_("Fallback: kind"), required=False)
    fallback_target = forms.CharField(label=_("Fallback: target"), max_length=100, required=False)

    def __init__(self, *args, webhook: RoutingWebhook | None = None, **kwargs):
        if webhook is not None:
            kwargs.setdefault("initial", {name: getattr(webhook, name) for name in self.base_fields})
        else:
            kwargs.setdefault("initial", {"timeout_ms": DEFAULT_TIMEOUT_MS})
        super().__init__(*args, **kwargs)
        self.fields["fallback_kind"].choices = [c for c in kind_choices(_("None (the call is refused)"))
                                                if c[0] != "webhook"]  # fmt: skip

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        if data.get("timeout_ms") is None:
            data["timeout_ms"] = DEFAULT_TIMEOUT_MS
        return data
