"""Voice menus (`/api/v1/menus/`) and call routing rule sets (`/api/v1/routes/`) through the API (the
client's operators, as in the portal): list, read, create, PATCH (fields and, when sent, all the keys
or rules), DELETE (refused, 400, while something points at it). Another client's answers 404; users
and other portal hosts see none."""

from __future__ import annotations

from menus import routing, services
from menus.api.serializers import MenuSerializer, RuleSetSerializer
from menus.models import Menu, RuleSet
from tenants.api.base import PATCH_ONLY, ClientRowViewSet


class MenuViewSet(ClientRowViewSet):
    """The client's voice menus, each with its keys (`options`)."""

    model = Menu
    serializer_class = MenuSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    http_method_names = PATCH_ONLY
    save_row, delete_row = staticmethod(services.menu_save), staticmethod(services.menu_delete)
    rows, prefetch = "options", ("options",)
    renamed = {"greeting_message_id": "greeting_message"}


class RuleSetViewSet(ClientRowViewSet):
    """The client's call routing rule sets, each with its rules in order (`rules`)."""

    model = RuleSet
    serializer_class = RuleSetSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    http_method_names = PATCH_ONLY
    save_row, delete_row = staticmethod(routing.route_save), staticmethod(routing.route_delete)
    row, rows, prefetch = "rule_set", "rules", ("rules",)
