"""Portal forms of call recording: they parse input; the services validate and write."""

from __future__ import annotations

from django import forms

from recordings.models import LineChoice, Mode


class RecordingPolicyForm(forms.Form):
    mode = forms.ChoiceField(choices=Mode.choices, label="Record calls")
    announce = forms.BooleanField(required=False, label="Announce it",
                                  help_text="Both parties hear that the call is recorded.")  # fmt: skip
    users_choose = forms.BooleanField(required=False, label="Users choose for their own calls")
    users_listen = forms.BooleanField(required=False, label="Users hear their own calls' recordings")
    retention_days = forms.IntegerField(label="Keep recordings (days)", help_text="1 to 3650; older ones are removed.")


class LineChoiceForm(forms.Form):
    mode = forms.ChoiceField(choices=LineChoice.choices, label="Record my calls")
