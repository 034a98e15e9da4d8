"""The chat widget's portal form (chat/widgets.py checks every field at once)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tenants.forms import COLOUR_ATTRS


class ChatWidgetForm(forms.Form):
    name = forms.CharField(max_length=60, required=False, label=_("Name"))
    queue = forms.TypedChoiceField(coerce=int, required=False, label=_("Queue that answers"), empty_value=None)
    origins = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label=_("Allowed web sites"),
                              help_text=_("Exact origins, one a line: https://shop.example.com"))  # fmt: skip
    title = forms.CharField(max_length=60, required=False, label=_("Title"))
    greeting = forms.CharField(max_length=300, required=False, label=_("Greeting"))
    colour = forms.CharField(max_length=7, required=False, label=_("Colour"),
                             widget=forms.TextInput(attrs={**COLOUR_ATTRS, "placeholder": "#1f4e79"}))  # fmt: skip
    offline_email = forms.CharField(max_length=254, required=False, label=_("Offline messages to"),
                                    help_text=_("Where a message left when nobody is available is sent."))  # fmt: skip
    max_sessions_per_visitor = forms.IntegerField(required=False, initial=2, label=_("Chats per visitor an hour"))
    messages_per_minute = forms.IntegerField(required=False, initial=20, label=_("Messages per minute"))
    max_message_length = forms.IntegerField(required=False, initial=2000, label=_("Longest message (characters)"))
    enabled = forms.BooleanField(required=False, initial=True, label=_("On"))

    def __init__(self, *args, queues=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [("", "---------"), *((q.pk, q.name) for q in queues)]

    def service_fields(self) -> dict:
        """The values as the service takes them: a number left empty keeps its default."""
        return {k: v for k, v in self.cleaned_data.items() if v is not None or k == "queue"}
