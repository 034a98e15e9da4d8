"""Portal forms for voicemail: a box's settings (an operator's every field, a user's few), a greeting
upload, a message's folder, the client's options. They only parse input; the services validate and
write (voicemail/services.py)."""

from __future__ import annotations

from django import forms
from django.forms.models import fields_for_model
from django.utils.translation import gettext_lazy as _

from voicemail.models import Mailbox
from voicemail.services import OPERATOR_FIELDS, USER_FIELDS

LABELS = {"number": _("Number"), "name": _("Name"), "max_seconds": _("Longest message (seconds)"),
          "max_messages": _("Messages at most"), "operator_kind": _("Operator (0): kind"),
          "operator_target": _("Operator (0): user or number"), "email": _("E-mail address"),
          "email_new_message": _("Mail me each new message"),
          "email_attach_audio": _("With the audio attached (else a link)"),
          "email_missed_call": _("Mail me each missed call"),
          "members": _("Members (users who hear its messages)")}  # fmt: skip
OPERATOR_KINDS = [("", _("Nobody (0 does nothing)")), ("user", _("A user (their extension)")),
                  ("external", _("An outside number"))]  # fmt: skip


class BoxForm(forms.Form):
    """A box's settings: `fields` are those the actor may change (services.OPERATOR_FIELDS or
    USER_FIELDS); the PIN is never shown, an empty one keeps the current PIN."""

    def __init__(self, *args, fields: tuple[str, ...], mailbox: Mailbox | None = None, **kwargs):
        if mailbox is not None:
            initial = {name: getattr(mailbox, name) for name in fields if name not in ("pin", "members")}
            if "members" in fields and mailbox.pk:
                initial["members"] = list(mailbox.members.values_list("pk", flat=True))
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        model_fields = [name for name in fields if name != "pin"]
        if mailbox is not None and mailbox.extension_id is not None:  # a user's box: its extension's number,
            model_fields = [name for name in model_fields if name not in ("number", "members")]  # its user's
        self.fields.update(fields_for_model(Mailbox, fields=model_fields, labels=LABELS))
        if "pin" in fields:
            self.fields["pin"] = forms.CharField(
                label=_("PIN"), required=mailbox is None, max_length=10, strip=True,
                widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "new-password"}),
                help_text=_("4 to 10 digits.") if mailbox is None
                else _("4 to 10 digits. Empty: the PIN stays as it is."),
            )  # fmt: skip
        if "operator_kind" in self.fields:
            self.fields["operator_kind"] = forms.ChoiceField(choices=OPERATOR_KINDS, required=False,
                                                             label=LABELS["operator_kind"])  # fmt: skip
        for name in ("name", "email", "operator_target", "number", "members"):
            if name in self.fields:
                self.fields[name].required = name == "number"
        if "members" in self.fields:
            self.fields["members"].label_from_instance = lambda line: f"{line.number} {line.display_name}".strip()

    def changes(self) -> dict:
        """The cleaned values for the service (an empty PIN is no change)."""
        data = dict(self.cleaned_data)
        if not data.get("pin"):
            data.pop("pin", None)
        return data


def box_fields(actor_is_operator: bool) -> tuple[str, ...]:
    return OPERATOR_FIELDS if actor_is_operator else USER_FIELDS


class GreetingForm(forms.Form):
    audio = forms.FileField(label=_("Audio file"), help_text=_("WAV, MP3, Ogg, FLAC or another audio format, at "
                                                              "most 2 minutes."))  # fmt: skip


class OptionsForm(forms.Form):
    unsolicited_mwi = forms.BooleanField(
        required=False, label=_("Light the message lamp of phones that do not subscribe"),
        help_text=_("Phones that do not subscribe to message waiting are told of new messages unsolicited."),
    )  # fmt: skip
