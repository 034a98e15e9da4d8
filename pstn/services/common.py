"""What the phone-network services share: role and scope checks, field errors for NUL bytes, the
carriers a brand may use."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext

from billing.models import Carrier
from tenants.scoping import require_brand, require_role

_require = require_role  # the names the pstn services use
_brand_scope = require_brand


def _no_nul(fields: dict) -> None:
    """PostgreSQL text holds no NUL: a field error rather than a database error."""
    nul = gettext("Must not contain NUL characters.")
    bad = {name: nul for name, v in fields.items() if isinstance(v, str) and "\x00" in v}
    if bad:
        raise ValidationError(bad)


def _clean(obj, exclude=None) -> None:
    obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)


def _changes(fields: dict) -> dict:
    return {k: str(v) for k, v in fields.items() if k != "password"}


def carriers_usable(brand_id: int | None) -> QuerySet[Carrier]:
    """The carriers a brand may send numbers and routes to: the platform's and its own."""
    return Carrier.objects.filter(Q(brand__isnull=True) | Q(brand_id=brand_id)).order_by("priority", "name")


def _usable(carrier: Carrier, brand_id: int, field: str = "carrier") -> None:
    if carrier.brand_id not in (None, brand_id):
        raise ValidationError({field: gettext("Choose one of the platform's carriers or one of the brand's own.")})
