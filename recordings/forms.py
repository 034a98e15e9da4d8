"""Portal forms of call recording: they parse input; the services validate and write."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from recordings.models import LineChoice, Mode


class RecordingPolicyForm(forms.Form):
    mode = forms.ChoiceField(choices=Mode.choices, label=_("Record calls"))
    announce = forms.BooleanField(required=False, label=_("Announce it"),
                                  help_text=_("Both parties hear that the call is recorded."))  # fmt: skip
    users_choose = forms.BooleanField(required=False, label=_("Users choose for their own calls"))
    users_listen = forms.BooleanField(required=False, label=_("Users hear their own calls' recordings"))
    retention_days = forms.IntegerField(label=_("Keep recordings (days)"),
                                        help_text=_("1 to 3650; older ones are removed."))  # fmt: skip


class LineChoiceForm(forms.Form):
    mode = forms.ChoiceField(choices=LineChoice.choices, label=_("Record my calls"))


class UserLineChoiceForm(forms.Form):
    """An operator's choice for one user's line (the user's own choice, where the client lets them)."""

    mode = forms.ChoiceField(choices=LineChoice.choices, label=_("Record this user's calls"))
