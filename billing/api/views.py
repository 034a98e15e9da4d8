"""API for rating: carriers (god), rate decks with CSV import and export, clients' pricing plans,
monthly statements and unrated calls, every one in the caller's scope (another brand's deck or
another client's statement answers 404)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import services
from billing.api import serializers as s
from billing.csvio import csv_response
from billing.decks import COLUMNS, DeckInvalid, deck_csv_rows
from billing.models import Carrier, PricingPlan, RateDeck
from billing.selectors import deck_rates, decks_of, plans_of, unrated_calls, unrated_row
from billing.statements import STATEMENT_COLUMNS, parse_month, statement_clients, statement_for, statement_summaries
from billing.usage import COLUMNS as USAGE_COLUMNS
from billing.usage import UsageFilterError, groups_for, shows_price, usage_rows, usage_series, usage_totals
from tenants.api.base import ScopedViewSet, changed_fields
from tenants.api.downloads import CsvMixin, csv_invalid_answer
from tenants.api.schema import error_answers
from tenants.models import Role


class CarrierViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Carriers (SIP trunks): god's are the platform's (`brand` null) and sees every brand's; a brand
    operator manages its own. A call's cost comes from the first carrier, by priority, whose deck has
    a rate for its number. Each carrier has one cost deck (`deck`), filled through
    /rate-decks/<deck>/import/, and its gateways at /gateways/. A carrier numbers come from cannot
    be deleted (409). One carrier's answer adds its gateways' states (`gateway_states`), its health
    now (`health`) and a sample of it each minute over the last 24 hours (`health_history`)."""

    model = Carrier
    serializer_class = s.CarrierSerializer
    search_fields = ["name"]
    ordering_fields = ["priority", "name"]

    def get_queryset(self):
        return super().get_queryset().prefetch_related("decks")

    def get_serializer_class(self):
        return s.CarrierDetailSerializer if self.action == "retrieve" else s.CarrierSerializer

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        carrier = services.carrier_create(**self.service_kwargs(), **serializer.validated_data)
        return Response(self.get_serializer(carrier).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        carrier = self.get_object()
        serializer = self.get_serializer(carrier, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = changed_fields(serializer)
        if fields.pop("brand", carrier.brand) != carrier.brand:
            raise ValidationError({"brand": "A carrier's brand cannot change."})
        carrier = services.carrier_update(**self.service_kwargs(), carrier=carrier, **fields)
        return Response(self.get_serializer(carrier).data)

    @extend_schema(responses={204: None, **error_answers(409)})
    def destroy(self, request, pk=None):
        services.carrier_delete(**self.service_kwargs(), carrier=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class RateDeckViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Rate decks: a brand's sell decks (god: every brand's and the carriers' cost decks). `rates`
    lists the rows (`?search=` a prefix or words of the description); `import` replaces them from a
    CSV file (multipart `file`), all or nothing: a bad file answers 400 with every problem (line,
    column, message) and changes nothing; `export` is the CSV that imports back to the same deck."""

    model = RateDeck
    serializer_class = s.RateDeckSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "updated_at"]

    def get_queryset(self):
        decks = decks_of(self.request.user)
        if self.action != "list":
            return decks
        query = s.DeckQuerySerializer(data={k: v for k, v in self.request.query_params.items() if v != ""})
        query.is_valid(raise_exception=True)
        return decks.filter(**{f"{name}_id": value for name, value in query.validated_data.items()})

    @extend_schema(parameters=[s.DeckQuerySerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        brand = data.pop("brand", None) or (request.user.brand if request.user.role == Role.BRAND else None)
        if brand is None and request.user.role == Role.GOD:
            raise ValidationError({"brand": "This field is required."})
        deck = services.deck_create(**self.service_kwargs(), brand=brand, **data)
        return Response(self.get_serializer(self.get_queryset().get(pk=deck.pk)).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        deck = self.get_object()
        serializer = self.get_serializer(deck, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = changed_fields(serializer)
        if fields.pop("brand", deck.brand) != deck.brand:
            raise ValidationError({"brand": "A deck's brand cannot change."})
        services.deck_update(**self.service_kwargs(), deck=deck, **fields)
        return Response(self.get_serializer(self.get_queryset().get(pk=deck.pk)).data)

    @extend_schema(responses={204: None, **error_answers(409)})
    def destroy(self, request, pk=None):
        services.deck_delete(**self.service_kwargs(), deck=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="A prefix or words of the description")],
        responses=s.RateSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def rates(self, request, pk=None):
        rates = deck_rates(self.get_object(), request.query_params.get("search", ""))
        page = self.paginate_queryset(rates)
        return self.get_paginated_response(s.RateSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": s.DeckImportSerializer}, responses={200: s.DeckImportResultSerializer}
    )
    @action(detail=True, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_csv(self, request, pk=None):
        deck = self.get_object()
        serializer = s.DeckImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            count = services.deck_import(
                **self.service_kwargs(), deck=deck, data=serializer.validated_data["file"].read()
            )
        except DeckInvalid as exc:
            return csv_invalid_answer(exc)
        return Response({"imported": count})

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        deck = self.get_object()
        return csv_response(request, COLUMNS, deck_csv_rows(deck), filename=f"rate-deck-{deck.pk}.csv", bom=False)


class PricingPlanViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Clients' pricing plans, one per client: `deck` (per call at the deck's price) or `flat`
    (`monthly_fee`, `included_minutes` used first each month, then the deck); `conference_rate`
    prices conference minutes. Brands manage their clients' plans; a client's operators read theirs."""

    model = PricingPlan
    serializer_class = s.PricingPlanSerializer
    search_fields = ["client__name"]
    ordering_fields = ["client__name", "updated_at"]

    def get_queryset(self):
        if self.request.user.role == Role.CLIENT:
            return super().get_queryset().select_related("client", "deck")
        return plans_of(self.request.user)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if PricingPlan.objects.filter(client=data["client"]).exists():
            raise ValidationError({"client": "The client has a plan already; change it with PATCH."})
        plan = services.plan_set(**self.service_kwargs(), **data)
        return Response(self.get_serializer(plan).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        plan = self.get_object()
        serializer = self.get_serializer(plan, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = changed_fields(serializer)
        if fields.pop("client", plan.client) != plan.client:
            raise ValidationError({"client": "A plan's client cannot change."})
        current = {
            name: getattr(plan, name) for name in ("kind", "deck", "monthly_fee", "included_minutes", "conference_rate")
        }
        plan = services.plan_set(**self.service_kwargs(), client=plan.client, **{**current, **fields})
        return Response(self.get_serializer(plan).data)

    def destroy(self, request, pk=None):
        services.plan_delete(**self.service_kwargs(), plan=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


def _month(request):
    query = s.MonthQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return parse_month(query.validated_data.get("month"))


class StatementViewSet(CsvMixin, viewsets.GenericViewSet):
    """Monthly statements (`?month=2026-11`, UTC; the current month by default). The list has one
    line per client in scope (god: all, a brand: its clients, a client's operators: their own);
    the detail (by client id) has usage per service and direction, charges per destination, the
    included minutes, the monthly fee and the totals; `?format=csv` downloads it."""

    lookup_value_regex = r"[0-9]+"
    filter_backends: list = []
    pagination_class = None
    csv_actions = {"retrieve"}
    serializer_class = s.StatementSerializer
    list_answers_object = True  # the month and its lines (tenants.api.schema)

    @extend_schema(
        operation_id="v1_statements_list", parameters=[s.MonthQuerySerializer], responses=s.StatementListSerializer
    )
    def list(self, request):
        month = _month(request)
        lines = statement_summaries(request.user, month=month)
        return Response(s.StatementListSerializer({"month": f"{month:%Y-%m}", "results": lines}).data)

    @extend_schema(
        parameters=[s.MonthQuerySerializer], responses={200: s.StatementSerializer, (200, "text/csv"): OpenApiTypes.STR}
    )
    def retrieve(self, request, pk=None):
        month = _month(request)
        client = statement_clients(request.user).filter(pk=pk).first()
        if client is None:
            raise Http404
        statement = statement_for(client=client, month=month)
        if self.wants_csv():
            return self.csv(
                STATEMENT_COLUMNS, statement.csv_rows(), filename=f"statement-{client.slug}-{month:%Y-%m}.csv"
            )
        return Response(s.StatementSerializer(statement).data)


class UnratedViewSet(viewsets.GenericViewSet):
    """Billable calls that could not be priced (no plan, no rate, no carrier rate), newest first,
    with the reason (god: all, a brand: its clients'). `retry` rates them again."""

    filter_backends: list = []
    serializer_class = s.UnratedSerializer

    @extend_schema(parameters=[s.PeriodSerializer])
    def list(self, request):
        query = s.PeriodSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = self.paginate_queryset(unrated_calls(request.user, **query.validated_data))
        return self.get_paginated_response(self.get_serializer([unrated_row(r) for r in page], many=True).data)

    @extend_schema(request=s.PeriodSerializer, responses=s.RetryResultSerializer)
    @action(detail=False, methods=["post"])
    def retry(self, request):
        query = s.PeriodSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        run = services.rating_retry(actor=request.user, **query.validated_data)
        return Response({"rated": run.rated, "unrated": run.unrated})


class UsageView(CsvMixin, APIView):
    """Usage in the caller's scope, per `group`: person (company, person, service: the moderator of a
    conference join, the caller of a call, the person called by a notification), company (god and
    brands) or brand (god); events, minutes and price where rated; totals; and the charts' series:
    minutes per day and calls per hour of day (UTC). `?format=csv` for the rows."""

    @extend_schema(parameters=[s.UsageQuerySerializer],
                   responses={200: s.UsageSerializer, (200, "text/csv"): OpenApiTypes.STR})  # fmt: skip
    def get(self, request):
        query = s.UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        group = q.get("group") or groups_for(request.user)[0]
        filters = {"since": q.get("since"), "until": q.get("until"), "service": q["service"],
                   "client_id": q.get("client"), "person_id": q.get("person")}  # fmt: skip
        try:
            rows = usage_rows(request.user, group=group, **filters)
            series = usage_series(request.user, **filters)
        except UsageFilterError as exc:
            raise ValidationError({exc.field: [exc.message]}, code=exc.code) from exc
        if self.wants_csv():
            columns = [c for c in USAGE_COLUMNS[group] if c != "price" or shows_price(request.user)]
            return self.csv(columns, rows, filename=f"usage-{group}.csv")
        answer = {"since": filters["since"], "until": filters["until"], "service": q["service"], "group": group,
                  "results": rows, "totals": usage_totals(rows), **series}  # fmt: skip
        return Response(s.UsageSerializer(answer).data)
