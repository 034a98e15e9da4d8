"""The one place that says what an actor may see: `Model.objects.restrict(actor)`.

Every portal view and API view reaches objects through `restrict()`; a row outside the actor's
scope is then simply not found (404), never "forbidden" with a hint that it exists. The services
check again what a role may do (require_role, require_brand).
"""

from __future__ import annotations

from django.db import models
from django.http import Http404
from django.utils.translation import gettext

from tenants.errors import NotAllowed


def require_role(actor, *roles: str) -> None:
    """The actor's role may do this at all, or NotAllowed."""
    if actor.role not in roles:
        raise NotAllowed(gettext("Your role may not do this."))


def require_client_operator(actor, client, refusal: str) -> None:
    """Only an operator of `client` may do this (its configuration: menus, groups, queues...), else
    NotAllowed saying `refusal`."""
    if actor.role != "client" or actor.client_id != client.pk:  # (tenants.models.Role imports this module)
        raise NotAllowed(refusal)


def require_brand(actor, brand_id: int | None) -> None:
    """A brand operator acts on its own brand's rows only, or NotAllowed (defence in depth: the views
    already reach rows through restrict())."""
    if actor.role == "brand" and brand_id != actor.brand_id:  # tenants.models.Role imports this module
        raise NotAllowed(gettext("Not in your brand."))


class RestrictedQuerySet(models.QuerySet):
    def restrict(self, actor):  # pragma: no cover - each model states its own rule
        raise NotImplementedError

    def get_for(self, actor, **lookup):
        """One object in the actor's scope, or Http404."""
        try:
            return self.restrict(actor).get(**lookup)
        except (self.model.DoesNotExist, ValueError, TypeError) as exc:
            raise Http404(f"No {self.model._meta.verbose_name} matches the given query.") from exc


class BrandScopedQuerySet(RestrictedQuerySet):
    """Rows that belong to a brand (its carriers, outbound routes, clients' SIP address rules): god
    sees all, a brand operator its brand's, nobody else any. `brand_field` names the lookup that holds
    the row's brand."""

    brand_field = "brand_id"

    def restrict(self, actor):
        role = actor.role  # the values of tenants.models.Role, which imports this module
        if role == "god":
            return self.all()
        if role == "brand":
            return self.filter(**{self.brand_field: actor.brand_id})
        return self.none()


class ProviderScopedQuerySet(BrandScopedQuerySet):
    """Rows that belong to a brand and, within it, to one client (call records, ratings, plans,
    exports in the public schema): god sees all, a brand operator its brand's, a client operator its
    client's, users none; a model with more to say overrides `restrict` and falls back on this one.
    `brand_field` and `client_field` name the columns that hold the row's brand and client."""

    client_field = "client_id"

    def restrict(self, actor):
        if actor.role == "client":
            return self.filter(**{self.client_field: actor.client_id})
        return super().restrict(actor)
