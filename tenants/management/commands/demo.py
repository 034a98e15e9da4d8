"""Load the demo data (idempotent): a brand, a PBX client and a conferencing client with users."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_tenants.utils import tenant_context

from telephony.models import Extension
from telephony.services import extension_create, extension_reset_secret, sip_ha1
from tenants.models import Brand, Client, Role, User
from tenants.services import brand_create, client_create, client_primary_domain, operator_create

PASSWORD = "demo-password-1"
BRAND = {
    "name": "Example Telecom",
    "domain": "brand.localhost",
    "primary_colour": "#0f5c4d",
    "accent_colour": "#f2a900",
}
CLIENTS = [
    {
        "name": "Acme Ltd",
        "slug": "acme",
        "kind": Client.Kind.PBX,
        "max_calls": 20,
        "timezone_name": "Europe/London",
        "operator": ("admin@acme.example", "Acme Admin"),
        "users": [("alice@acme.example", "Alice Archer", "101"), ("bob@acme.example", "Bob Baker", "102")],
    },
    {
        "name": "Globex Conferencing",
        "slug": "globex",
        "kind": Client.Kind.CONFERENCING,
        "max_calls": 100,
        "timezone_name": "America/New_York",
        "operator": ("admin@globex.example", "Globex Admin"),
        "users": [("carol@globex.example", "Carol Chen", "201"), ("dave@globex.example", "Dave Diaz", "202")],
    },
]


def demo_sip_secret(number: str) -> str:
    """Demo lines get known secrets so a softphone can register without a trip to the portal."""
    return f"demo-sip-{number}"


class Command(BaseCommand):
    help = __doc__

    @transaction.atomic
    def handle(self, *args, **options):
        god = User.objects.filter(email="god@opencentrex.example").first()
        if god is None:
            god = User.objects.create_user("god@opencentrex.example", PASSWORD, name="Platform Operator", role=Role.GOD)
        brand = Brand.objects.filter(domain=BRAND["domain"]).first() or brand_create(actor=god, **BRAND)
        brand_op = User.objects.filter(email="ops@brand.example").first() or operator_create(
            actor=god, role=Role.BRAND, email="ops@brand.example", name="Brand Operator", password=PASSWORD, brand=brand
        )
        lines = []
        for spec in CLIENTS:
            spec = dict(spec)
            op_email, op_name = spec.pop("operator")
            users = spec.pop("users")
            client = Client.objects.filter(brand=brand, slug=spec["slug"]).first() or client_create(
                actor=brand_op, brand=brand, **spec
            )
            operator = User.objects.filter(email=op_email).first() or operator_create(
                actor=brand_op, role=Role.CLIENT, email=op_email, name=op_name, password=PASSWORD, client=client
            )
            for email, name, number in users:
                with tenant_context(client):
                    extension = Extension.objects.filter(number=number).first()
                    if extension is None:
                        extension, _ = extension_create(
                            actor=operator, client=client, email=email, name=name, password=PASSWORD, number=number
                        )
                    wanted = sip_ha1(extension.sip_username, client.sip_domain, demo_sip_secret(number))[0]
                    if extension.ha1_md5 != wanted:
                        extension_reset_secret(
                            actor=operator, client=client, extension=extension, secret=demo_sip_secret(number)
                        )
                lines.append((client, email, number, extension.sip_username))
        port = settings.OCX_WEB_URL_PORT
        rows = [("god", "localhost", "god@opencentrex.example", ""), ("brand", brand.domain, "ops@brand.example", "")]
        rows += [("client", f"{spec['slug']}.{brand.domain}", spec["operator"][0], "") for spec in CLIENTS]
        rows += [
            ("user", client_primary_domain(client), email, f"SIP {username}@{client.sip_domain} / {demo_sip_secret(n)}")
            for client, email, n, username in lines
        ]
        self.stdout.write(f"\nDemo logins (password for all: {PASSWORD})")
        for role, host, email, extra in rows:
            self.stdout.write(f"  {role:<7}{'http://' + host + ':' + port + '/':<40}{email:<26}{extra}".rstrip())
