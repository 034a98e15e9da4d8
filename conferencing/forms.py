"""Portal forms for conference rooms, the message library, notifications and the reports' filters.
They only parse input; the services validate and write."""

from __future__ import annotations

from django import forms
from django.forms.models import fields_for_model, model_to_dict
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from conferencing.models import Campaign, Message, Room
from conferencing.selectors import ROOM_FIELDS
from tenants.forms import PeriodForm
from tenants.models import Client, Role, User

GENERATED = ("conference_id", "participant_pin", "moderator_pin")
MOMENT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
LABELS = {"name": _("Name"), "conference_id": _("Conference ID"), "participant_pin": _("Participants' PIN"),
          "moderator_pin": _("Moderator PIN"), "access_number": _("Access number"), "starts_at": _("Starts"),
          "ends_at": _("Ends"), "recurrence": _("Recurrence"), "max_participants": _("Participants at most"),
          "max_minutes": _("Minutes at most"), "entry_tone": _("Entry tone"),
          "wait_for_moderator": _("Wait for the moderator"), "end_with_moderator": _("End with the moderator"),
          "record": _("Record"), "hot_numbers": _("Numbers to call"), "hot_retries": _("Retries"),
          "hot_retry_seconds": _("Seconds between retries"), "trigger_number": _("Trigger number")}  # fmt: skip


class ModeratorChoice(forms.ModelChoiceField):
    def label_from_instance(self, user: User) -> str:
        return f"{user.name} ({user.email})"


class RoomForm(forms.Form):
    """A room as its moderator or the client's operators edit it: the model's fields (the services'
    list); operators also choose the moderator. Empty ID and PINs are generated when creating."""

    def __init__(self, *args, actor: User, client: Client, room: Room | None = None, **kwargs):
        if room is not None:
            kwargs.setdefault("initial", {**model_to_dict(room, fields=ROOM_FIELDS), "moderator": room.moderator_id})
        super().__init__(*args, **kwargs)
        if actor.role == Role.CLIENT:
            users = User.objects.filter(client=client, role=Role.USER).order_by("name")
            self.fields["moderator"] = ModeratorChoice(
                users, label=_("Moderator"), empty_label=None if room else _("Choose a user")
            )
        widgets = {"starts_at": MOMENT, "ends_at": MOMENT, "hot_numbers": forms.Textarea(attrs={"rows": 3})}
        self.fields.update(fields_for_model(Room, fields=ROOM_FIELDS, widgets=widgets, labels=LABELS))
        self.fields["recurrence"].choices = Room.Recurrence.choices  # "Once" is the empty choice
        for name in GENERATED:
            self.fields[name].widget.attrs["inputmode"] = "numeric"
            if room is None:
                self.fields[name].required = False
                self.fields[name].help_text = _("Empty: generated.")


class MessageUploadForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"))
    audio = forms.FileField(label=_("Audio file"), help_text=_("WAV, MP3, Ogg, FLAC or another audio format, at most 5 "
                            "minutes; it is kept as 8 kHz mono, what the phones play."))  # fmt: skip


class MessageRecordForm(forms.Form):
    name = forms.CharField(
        max_length=100, label=_("Name"), help_text=_("Then you dial *89 and the message's number from your phone.")
    )


class MessageChoice(forms.ModelChoiceField):
    def label_from_instance(self, message: Message) -> str:
        if not message.recorded:
            return gettext("%(name)s (no audio yet)") % {"name": message.name}
        return f"{message.name} ({int(message.seconds) // 60}:{int(message.seconds) % 60:02d})"


class CampaignForm(forms.Form):
    """A new notification: the services check the numbers (extensions, outside numbers) and the message."""

    def __init__(self, *args, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"] = forms.CharField(max_length=100, label=_("Name"))
        self.fields["message"] = MessageChoice(Message.objects.restrict(actor), label=_("Message"),
                                               empty_label=_("Choose a message"))  # fmt: skip
        self.fields["numbers"] = forms.CharField(
            label=_("Numbers to call"), widget=forms.Textarea(attrs={"rows": 6}),
            help_text=_("The company's extensions or outside numbers (called through the carriers), one a line."),
        )  # fmt: skip
        labels = {"confirm_digit": _("Confirm key"), "retries": _("Retries"),
                  "retry_seconds": _("Seconds between retries")}  # fmt: skip
        self.fields.update(fields_for_model(Campaign, fields=list(labels), labels=labels))
        self.fields["confirm_digit"].help_text = _("The key a callee presses to say they heard the message.")
        self.fields["retries"].help_text = _("Further calls to a number that did not confirm.")
        self.fields["confirm_digit"].widget.attrs["inputmode"] = "numeric"


class JoinsFilterForm(PeriodForm):
    """The per-conference report narrowed to a conference, a moderator or a company (ids from links)."""

    conference = forms.CharField(required=False, max_length=9, label=_("Conference ID"))
    moderator = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    client = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
