"""API of the phone-network side, every one in the caller's scope (a row outside it answers 404):
carriers' gateways, numbers, outbound routes, the brands' routing policies and the clients'
outbound policies."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from pstn import services
from pstn.api import serializers as s
from pstn.models import Gateway, OutboundRoute
from pstn.selectors import gateways_of, numbers_of, routes_of
from tenants.api.base import ScopedViewSet, changed_fields
from tenants.errors import NotAllowed
from tenants.models import Brand, Client, Role


def _brand(request, data: dict) -> Brand:
    """The brand a new row belongs to: god names it, a brand operator's is their own."""
    brand = data.pop("brand", None)
    if request.user.role == Role.BRAND:
        return request.user.brand
    if request.user.role != Role.GOD:
        raise NotAllowed("Your role may not do this.")
    if brand is None:
        raise ValidationError({"brand": "This field is required."})
    return brand


class GatewayViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Carriers' gateways: address (or DNS name) and port, transport, registration and credentials
    (the password is write-only: `password_set` says whether there is one), and `inbound_networks`,
    one address or CIDR network a line, the only sources of the carrier's inbound calls."""

    model = Gateway
    serializer_class = s.GatewaySerializer
    search_fields = ["name", "host"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return gateways_of(self.request.user)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        gateway = services.gateway_create(**self.service_kwargs(), **serializer.validated_data)
        return Response(self.get_serializer(gateway).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        gateway = self.get_object()
        serializer = self.get_serializer(gateway, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = changed_fields(serializer)
        if fields.pop("carrier", gateway.carrier) != gateway.carrier:
            raise ValidationError({"carrier": "A gateway's carrier cannot change."})
        gateway = services.gateway_update(**self.service_kwargs(), gateway=gateway, **fields)
        return Response(self.get_serializer(gateway).data)

    def destroy(self, request, pk=None):
        services.gateway_delete(**self.service_kwargs(), gateway=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class NumberViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Numbers (E.164): god sees all, a brand its inventory (adds one, or many with `bulk`, sets the
    carrier, monthly cost and price, and the client, or null for free), a client's operators their
    own numbers, whose destination (`destination_kind` + `destination_target`) and closed
    destination with a `schedule` id they set. `national` is the number as the client's people dial it."""

    serializer_class = s.NumberSerializer
    search_fields = ["e164", "client__name"]
    ordering_fields = ["e164", "created_at"]

    def get_queryset(self):
        return numbers_of(self.request.user)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        brand = _brand(request, data)
        for name in services.NUMBER_ROUTE_FIELDS:
            if data.pop(name, None) not in (None, ""):
                raise ValidationError({name: "Assign the number first, then its client points it somewhere."})
        data = {k: v for k, v in data.items() if v is not None}
        number = services.number_create(**self.service_kwargs(), brand=brand, **data)
        return Response(self.get_serializer(number).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        number = self.get_object()
        serializer = self.get_serializer(number, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = changed_fields(serializer)
        if fields.pop("brand", number.brand) != number.brand:
            raise ValidationError({"brand": "A number's brand cannot change."})
        if fields.pop("e164", number.e164).strip() != number.e164:
            raise ValidationError({"e164": "A number cannot change; add the new one and remove this one."})
        number = services.number_update(**self.service_kwargs(), number=number, **fields)
        return Response(self.get_serializer(number).data)

    def destroy(self, request, pk=None):
        services.number_delete(**self.service_kwargs(), number=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.NumberBulkSerializer, responses={201: s.NumberBulkResultSerializer})
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        serializer = s.NumberBulkSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        brand = _brand(request, data)
        added = services.number_bulk_add(**self.service_kwargs(), brand=brand, **data)
        return Response({"created": len(added), "numbers": [n.e164 for n in added]}, status=status.HTTP_201_CREATED)


class OutboundRouteViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """A brand's outbound routes, tried by `position`: numbers whose E.164 digits match `pattern` (a
    prefix, or a regular expression of at most 200 characters) go to its `carriers` (the platform's
    or the brand's own) by `mode`: priority (in order), weight (shared) or lcr (cheapest first)."""

    model = OutboundRoute
    serializer_class = s.OutboundRouteSerializer
    search_fields = ["name", "pattern"]
    ordering_fields = ["position", "name"]

    def get_queryset(self):
        return routes_of(self.request.user)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        brand = _brand(request, data)
        carriers = data.pop("members", [])
        route = services.outbound_route_create(**self.service_kwargs(), brand=brand, carriers=carriers, **data)
        return Response(self.get_serializer(route).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        route = self.get_object()
        serializer = self.get_serializer(route, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = changed_fields(serializer)
        if "carriers" in serializer.initial_data:
            fields["carriers"] = serializer.validated_data.get("members", [])
        fields.pop("members", None)
        if fields.pop("brand", route.brand) != route.brand:
            raise ValidationError({"brand": "A route's brand cannot change."})
        route = services.outbound_route_update(**self.service_kwargs(), route=route, **fields)
        return Response(self.get_serializer(routes_of(request.user).get(pk=route.pk)).data)

    def destroy(self, request, pk=None):
        services.outbound_route_delete(**self.service_kwargs(), route=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


BRAND_ID = OpenApiParameter("brand", int, OpenApiParameter.PATH, description="The brand's id.")
CLIENT_ID = OpenApiParameter("client", int, OpenApiParameter.PATH, description="The client's id.")


class RoutingPolicyViewSet(viewsets.GenericViewSet):
    """A brand's carrier health thresholds, by the brand's id (created with the defaults when first
    read): god any brand's, a brand operator its own."""

    serializer_class = s.RoutingPolicySerializer
    lookup_field = "brand"
    lookup_value_regex = r"[0-9]+"
    filter_backends: list = []
    pagination_class = None

    def _brand(self, brand) -> Brand:
        return Brand.objects.get_for(self.request.user, pk=brand)  # users and clients: none, 404

    @extend_schema(parameters=[BRAND_ID])
    def retrieve(self, request, brand=None):
        return Response(self.get_serializer(services.routing_policy_of(self._brand(brand))).data)

    @extend_schema(parameters=[BRAND_ID])
    def partial_update(self, request, brand=None):
        brand = self._brand(brand)
        serializer = self.get_serializer(services.routing_policy_of(brand), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        policy = services.routing_policy_update(actor=request.user, brand=brand, **changed_fields(serializer))
        return Response(self.get_serializer(policy).data)


class OutboundPolicyViewSet(viewsets.GenericViewSet):
    """A client's outbound policy, by the client's id (created with the defaults when first read):
    what its users may dial and who they are shown as. The brand (and god) edit all of it; the
    client's own operators read it and change `caller_id` and `main_number` (one of their numbers)."""

    serializer_class = s.OutboundPolicySerializer
    lookup_field = "client"
    lookup_value_regex = r"[0-9]+"
    filter_backends: list = []
    pagination_class = None

    def _client(self, client) -> Client:
        if self.request.user.role not in (Role.GOD, Role.BRAND, Role.CLIENT):
            raise Http404("Not found.")
        return Client.objects.get_for(self.request.user, pk=client)

    @extend_schema(parameters=[CLIENT_ID])
    def retrieve(self, request, client=None):
        client = self._client(client)
        return Response(self.get_serializer(services.outbound_policy_of(client)).data)

    @extend_schema(parameters=[CLIENT_ID])
    def partial_update(self, request, client=None):
        client = self._client(client)
        policy = services.outbound_policy_of(client)
        context = {**self.get_serializer_context(), "client": client}
        serializer = s.OutboundPolicySerializer(policy, data=request.data, partial=True, context=context)
        serializer.is_valid(raise_exception=True)
        policy = services.outbound_policy_update(actor=request.user, client=client, **changed_fields(serializer))
        return Response(self.get_serializer(policy).data)
