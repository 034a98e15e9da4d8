"""Ring groups through the API (the client's operators, as in the portal): list, read, create, PATCH
(fields and, when sent, all the members), DELETE (refused, 400, while something points at the group).
Another client's group answers 404; users and other portal hosts see none."""

from __future__ import annotations

from ringgroups import services
from ringgroups.api.serializers import RingGroupSerializer
from ringgroups.models import RingGroup
from tenants.api.base import PATCH_ONLY, ClientRowViewSet


class RingGroupViewSet(ClientRowViewSet):
    """The client's ring groups, each with its members (`members`, in order)."""

    model = RingGroup
    serializer_class = RingGroupSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    http_method_names = PATCH_ONLY
    save_row, delete_row = staticmethod(services.ring_group_save), staticmethod(services.ring_group_delete)
    row, rows, prefetch = "group", "members", ("members",)
