"""Portal forms for ring groups: the group's fields, and its members as rows in order (a formset: a
blank row is no member). They only parse input; ringgroups/services.py validates and writes, naming
every bad field."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from menus.forms import kind_choices
from ringgroups.models import MAX_MEMBERS, MAX_RING_TIME, Member, RingGroup


class RingGroupForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60, required=False)
    strategy = forms.ChoiceField(label=_("Strategy"), required=False, choices=RingGroup.Strategy.choices)
    ring_time = forms.IntegerField(label=_("Ring time (seconds)"), required=False,
                                   help_text=_("Each member's, or all members' together when they ring at once "
                                               "(1 to %(max)s).") % {"max": MAX_RING_TIME})  # fmt: skip
    no_answer_kind = forms.ChoiceField(label=_("When nobody answers: kind"), required=False)
    no_answer_target = forms.CharField(label=_("When nobody answers: target"), max_length=100, required=False)

    def __init__(self, *args, group: RingGroup | None = None, **kwargs):
        if group is not None:
            kwargs.setdefault("initial", {name: getattr(group, name) for name in self.base_fields})
        else:
            kwargs.setdefault("initial", {"strategy": RingGroup.Strategy.SIMULTANEOUS, "ring_time": 20})
        super().__init__(*args, **kwargs)
        self.fields["no_answer_kind"].choices = kind_choices(_("Nobody is available (hang up)"))

    def values(self) -> dict:
        """The cleaned values for the service (an empty ring time: the default)."""
        data = dict(self.cleaned_data)
        if data.get("ring_time") is None:
            data["ring_time"] = 20
        return data


class MemberForm(forms.Form):
    kind = forms.ChoiceField(label=_("Member"), required=False, choices=[("", "-"), *Member.Kind.choices])
    target = forms.CharField(label=_("Extension or number"), max_length=100, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():  # (the rows' cells have the table's headings, not labels of their own)
            field.widget.attrs["aria-label"] = field.label

    def filled(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any(data.get(name) for name in ("kind", "target"))


MemberRows = forms.formset_factory(MemberForm, extra=3, max_num=MAX_MEMBERS, absolute_max=MAX_MEMBERS + 3)
