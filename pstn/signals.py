"""Every change to a carrier, a gateway or a number reaches the edges' copy (pstn/directory.py)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from billing.models import Carrier
from pstn.directory import pstn_directory_changed
from pstn.models import Gateway, Number


def _changed(sender, **kwargs) -> None:
    pstn_directory_changed()


for model in (Carrier, Gateway, Number):
    post_save.connect(_changed, sender=model, dispatch_uid=f"pstn-directory-{model.__name__}-save")
    post_delete.connect(_changed, sender=model, dispatch_uid=f"pstn-directory-{model.__name__}-delete")
