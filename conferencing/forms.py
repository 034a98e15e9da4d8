"""Portal forms for conference rooms. They only parse input; the services validate and write."""

from __future__ import annotations

from django import forms
from django.forms.models import fields_for_model, model_to_dict

from conferencing.models import Room
from conferencing.selectors import ROOM_FIELDS
from tenants.models import Client, Role, User

GENERATED = ("conference_id", "participant_pin", "moderator_pin")
MOMENT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
LABELS = {"conference_id": "Conference ID", "participant_pin": "Participants' PIN", "moderator_pin": "Moderator PIN",
          "starts_at": "Starts", "ends_at": "Ends", "max_participants": "Participants at most",
          "max_minutes": "Minutes at most", "hot_numbers": "Numbers to call",
          "hot_retries": "Retries", "hot_retry_seconds": "Seconds between retries"}  # fmt: skip


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
            self.fields["moderator"] = ModeratorChoice(users, empty_label=None if room else "Choose a user")
        widgets = {"starts_at": MOMENT, "ends_at": MOMENT, "hot_numbers": forms.Textarea(attrs={"rows": 3})}
        self.fields.update(fields_for_model(Room, fields=ROOM_FIELDS, widgets=widgets, labels=LABELS))
        self.fields["recurrence"].choices = Room.Recurrence.choices  # "Once" is the empty choice
        for name in GENERATED:
            self.fields[name].widget.attrs["inputmode"] = "numeric"
            if room is None:
                self.fields[name].required = False
                self.fields[name].help_text = "Empty: generated."
