"""API for the hierarchy: brands, clients, operators, the caller's own account and tokens."""

from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants import services
from tenants.api import serializers as s
from tenants.api.base import ScopedViewSet, changed_fields
from tenants.api.schema import error_answers
from tenants.models import ApiToken, Brand, Client, Role, User


class BrandViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Brands: the platform operator manages all of them; a brand operator sees and edits its own."""

    model = Brand
    serializer_class = s.BrandSerializer

    def get_queryset(self):
        return super().get_queryset().prefetch_related("aliases")

    search_fields = ["name", "domain"]
    ordering_fields = ["name", "created_at"]

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        brand = services.brand_create(**self.service_kwargs(), **serializer.validated_data)
        return Response(self.get_serializer(brand).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        brand = self.get_object()
        serializer = self.get_serializer(brand, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        brand = services.brand_update(**self.service_kwargs(), brand=brand, **changed_fields(serializer))
        return Response(self.get_serializer(self.get_queryset().get(pk=brand.pk)).data)  # fresh aliases

    def destroy(self, request, pk=None):
        services.brand_delete(**self.service_kwargs(), brand=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClientViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Client companies. DELETE is reversible (status `deleted`); `hard-delete` drops the schema."""

    model = Client
    serializer_class = s.ClientSerializer
    search_fields = ["name", "slug", "sip_domain"]
    ordering_fields = ["name", "created_at", "status"]

    def get_queryset(self):
        return super().get_queryset().select_related("brand").prefetch_related("domains")

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        brand = data.pop("brand", None) or (request.user.brand if request.user.role == Role.BRAND else None)
        if brand is None:
            raise ValidationError({"brand": "This field is required."})
        for theme_field in ("primary_colour", "accent_colour"):
            data.pop(theme_field, None)
        client = services.client_create(
            **self.service_kwargs(), brand=brand, timezone_name=data.pop("timezone", "UTC"), **data
        )
        return Response(self.get_serializer(client).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        client = self.get_object()
        serializer = self.get_serializer(client, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = changed_fields(serializer)
        if fields.pop("brand", client.brand) != client.brand:
            raise ValidationError({"brand": "A client's brand cannot change."})
        for frozen in ("slug", "sip_domain"):
            if fields.get(frozen, getattr(client, frozen)) != getattr(client, frozen):
                raise ValidationError({frozen: "This field cannot change."})
            fields.pop(frozen, None)
        client = services.client_update(**self.service_kwargs(), client=client, **fields)
        return Response(self.get_serializer(client).data)

    def destroy(self, request, pk=None):
        services.client_delete(**self.service_kwargs(), client=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        client = services.client_suspend(**self.service_kwargs(), client=self.get_object())
        return Response(self.get_serializer(client).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        client = services.client_activate(**self.service_kwargs(), client=self.get_object())
        return Response(self.get_serializer(client).data)

    @extend_schema(request=s.ClientHardDeleteSerializer, responses={204: None})
    @action(detail=True, methods=["post"], url_path="hard-delete")
    def hard_delete(self, request, pk=None):
        serializer = s.ClientHardDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.client_hard_delete(
            **self.service_kwargs(), client=self.get_object(), confirm=serializer.validated_data["confirm"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class OperatorViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Operator accounts: each level manages its own operators and those of the level below."""

    model = User
    serializer_class = s.OperatorSerializer
    search_fields = ["email", "name"]
    ordering_fields = ["email", "name", "created_at"]

    def get_queryset(self):
        return super().get_queryset().exclude(role=Role.USER)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("is_active", None)
        if "password" not in data:
            raise ValidationError({"password": "This field is required."})
        user = services.operator_create(**self.service_kwargs(), **data)
        return Response(self.get_serializer(user).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        account = self.get_object()
        serializer = self.get_serializer(account, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = {k: v for k, v in changed_fields(serializer).items() if k in ("email", "name", "is_active")}
        account = services.account_update(**self.service_kwargs(), account=account, **fields)
        if "password" in serializer.validated_data:
            services.account_set_password(
                **self.service_kwargs(), account=account, password=serializer.validated_data["password"]
            )
        return Response(self.get_serializer(account).data)

    def destroy(self, request, pk=None):
        services.operator_delete(**self.service_kwargs(), account=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def unlock(self, request, pk=None):
        """Lift the sign-in lock that wrong passwords put on the account."""
        account = self.get_object()
        services.account_unlock(**self.service_kwargs(), account=account)
        return Response(self.get_serializer(account).data)


class TokenViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The caller's own API tokens. The key is in the answer to create, and nowhere else."""

    serializer_class = s.TokenSerializer

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = services.token_create(**self.service_kwargs(), name=serializer.validated_data["name"])
        return Response(s.TokenSerializer(token, context={"key": key}).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        services.token_revoke(**self.service_kwargs(), token=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The caller's own account."""

    @extend_schema(responses=s.MeSerializer)
    def get(self, request):
        return Response(s.MeSerializer(request.user).data)

    @extend_schema(request=s.MeSerializer, responses=s.MeSerializer)
    def patch(self, request):
        serializer = s.MeSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.account_update(actor=request.user, account=request.user, **changed_fields(serializer))
        return Response(s.MeSerializer(user).data)


class PasswordView(APIView):
    """Change the caller's own password: the caller's other sessions and WebSockets end; with
    `sign_out_elsewhere`, its API tokens but the calling one are revoked too."""

    @extend_schema(request=s.PasswordChangeSerializer, responses={204: None, **error_answers(429)})
    def post(self, request):
        serializer = s.PasswordChangeSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            services.account_set_password(
                actor=request.user, account=request.user, password=serializer.validated_data["new_password"]
            )
            if serializer.validated_data["sign_out_elsewhere"]:
                calling = ApiToken.objects.filter(key_hash=request.auth).first() if request.auth else None
                services.token_revoke_all(actor=request.user, keep=calling)
        if request.session.session_key:
            update_session_auth_hash(request, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
