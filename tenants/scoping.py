"""The one place that says what an actor may see: `Model.objects.restrict(actor)`.

Every portal view and API view reaches objects through `restrict()`; a row outside the actor's
scope is then simply not found (404), never "forbidden" with a hint that it exists.
"""

from __future__ import annotations

from django.db import models
from django.http import Http404


class RestrictedQuerySet(models.QuerySet):
    def restrict(self, actor):  # pragma: no cover - each model states its own rule
        raise NotImplementedError

    def get_for(self, actor, **lookup):
        """One object in the actor's scope, or Http404."""
        try:
            return self.restrict(actor).get(**lookup)
        except (self.model.DoesNotExist, ValueError, TypeError) as exc:
            raise Http404(f"No {self.model._meta.verbose_name} matches the given query.") from exc
