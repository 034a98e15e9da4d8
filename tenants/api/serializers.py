from __future__ import annotations

from rest_framework import serializers

from tenants.api.base import RefuseUnchangeable, ScopedRelatedField
from tenants.models import ApiToken, Brand, Client, Role, User
from tenants.services import client_primary_domain
from tenants.signin import client_address, signin_check, signin_failed, signin_locks, signin_succeeded


class AliasListField(serializers.ListField):
    """Host names in, alias rows' host names out."""

    def to_representation(self, aliases) -> list[str]:
        return [alias.domain for alias in aliases.all()]


class BrandSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    has_logo = serializers.SerializerMethodField()
    aliases = AliasListField(
        child=serializers.CharField(max_length=253), required=False, help_text="Other hosts of the brand's portal."
    )

    class Meta:
        model = Brand
        fields = ["id", "name", "domain", "aliases", "language", "primary_colour", "accent_colour", "has_logo",
                  "created_at"]  # fmt: skip
        read_only_fields = ["created_at"]

    def get_has_logo(self, brand: Brand) -> bool:
        return bool(brand.logo)


class ClientSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    brand = ScopedRelatedField(Brand, required=False)
    domain = serializers.CharField(
        required=False, max_length=253, help_text="Portal host; default <slug>.<brand domain>."
    )

    class Meta:
        model = Client
        fields = [
            "id",
            "brand",
            "name",
            "slug",
            "kind",
            "domain",
            "sip_domain",
            "max_calls",
            "sip_digest",
            "timezone",
            "country",
            "language",
            "status",
            "primary_colour",
            "accent_colour",
            "created_at",
        ]
        read_only_fields = ["status", "created_at"]
        extra_kwargs = {
            "sip_domain": {"required": False},
            "timezone": {"required": False},
            "country": {"required": False},
        }
        validators = []  # uniqueness per brand is checked by client_create, naming the field

    def to_representation(self, client: Client) -> dict:
        data = super().to_representation(client)
        data["domain"] = client_primary_domain(client)
        return data


class ClientHardDeleteSerializer(serializers.Serializer):
    confirm = serializers.CharField(help_text="The client's slug, typed to confirm.")


class OperatorSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=[Role.GOD, Role.BRAND, Role.CLIENT])
    brand = ScopedRelatedField(Brand, required=False, allow_null=True)
    client = ScopedRelatedField(Client, required=False, allow_null=True)
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"})
    signin_locked_seconds = serializers.SerializerMethodField(
        help_text="Seconds the account stays locked out of signing in after wrong passwords (0: not locked); "
        "POST unlock lifts it."
    )

    class Meta:
        model = User
        fields = [
            "id", "email", "name", "role", "brand", "client", "is_active", "password", "signin_locked_seconds",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["created_at"]
        frozen_fields = ["role", "brand", "client"]  # given at creation only

    def get_signin_locked_seconds(self, account: User) -> int:
        return signin_locks([account.email]).get(account.email, 0)


class MeSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "language", "role", "brand", "client"]
        read_only_fields = ["role", "brand", "client"]
        extra_kwargs = {"language": {"help_text": "en, es, fr or de; empty: the client's language (else the "
                                                  "brand's, else English)."}}  # fmt: skip


class PasswordChangeSerializer(serializers.Serializer):
    current_password = serializers.CharField(style={"input_type": "password"})
    new_password = serializers.CharField(style={"input_type": "password"})
    sign_out_elsewhere = serializers.BooleanField(
        default=False,
        help_text="Also revoke all my API tokens but the one making this call. Other sessions and open "
        "WebSockets end with the change anyway.",
    )

    def validate_current_password(self, value: str) -> str:
        """Wrong guesses count like failed sign-ins (tenants/signin.py): too many answer 429 `locked`."""
        request = self.context["request"]
        email, address = request.user.email, client_address(request)
        signin_check(email=email, address=address)
        if not request.user.check_password(value):
            signin_failed(email=email, address=address)
            raise serializers.ValidationError("The current password is not right.")
        signin_succeeded(email=email, address=address)
        return value


class TokenSerializer(serializers.ModelSerializer):
    key = serializers.SerializerMethodField(help_text="The key, returned only when the token is created.")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "key"]
        read_only_fields = ["prefix", "created_at", "last_used_at"]

    def get_key(self, token: ApiToken) -> str | None:
        return self.context.get("key")
