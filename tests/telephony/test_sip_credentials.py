"""SIP credentials: only digest hashes are stored, and they verify the secret a phone will use."""

from __future__ import annotations

import hashlib

from django.db import connection
from django_tenants.utils import tenant_context

from telephony.models import Extension
from telephony.services import extension_create, extension_reset_secret, sip_ha1
from tests.conftest import PASSWORD


def _digest_response(ha1: str, algo, method: str, uri: str, nonce: str, nc: str, cnonce: str) -> str:
    """RFC 7616 response for qop=auth: what the edge will compute to check a REGISTER."""
    ha2 = algo(f"{method}:{uri}".encode()).hexdigest()
    return algo(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()


def test_stored_hashes_verify_the_generated_secret_and_nothing_else(world):
    client = world.client_a1
    extension, secret = extension_create(
        actor=world.client_a1_op,
        client=client,
        email="sip@client-a1.example",
        name="Sip Person",
        password=PASSWORD,
        number="170",
    )
    with tenant_context(client):
        stored = Extension.objects.get(pk=extension.pk)
    realm = client.sip_domain
    assert stored.ha1_md5 == hashlib.md5(f"170:{realm}:{secret}".encode()).hexdigest()
    assert stored.ha1_sha256 == hashlib.sha256(f"170:{realm}:{secret}".encode()).hexdigest()

    # A phone that knows the secret computes the same digest response as the stored HA1 gives.
    for algo, ha1 in ((hashlib.md5, stored.ha1_md5), (hashlib.sha256, stored.ha1_sha256)):
        phone_ha1 = algo(f"170:{realm}:{secret}".encode()).hexdigest()
        args = ("REGISTER", f"sip:{realm}", "abc123", "00000001", "xyz")
        assert _digest_response(ha1, algo, *args) == _digest_response(phone_ha1, algo, *args)
        wrong_ha1 = algo(f"170:{realm}:wrong".encode()).hexdigest()
        assert _digest_response(ha1, algo, *args) != _digest_response(wrong_ha1, algo, *args)

    # The secret itself is nowhere in the client's schema.
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{client.schema_name}".telephony_extension WHERE id = %s', [extension.pk])
        row = cursor.fetchone()
    assert all(secret not in str(value) for value in row)


def test_reset_changes_the_hashes_and_the_realm_is_the_clients_sip_domain(world):
    extension = world.extension_of(world.user_a1)
    before = (extension.ha1_md5, extension.ha1_sha256)
    secret = extension_reset_secret(actor=world.user_a1, client=world.client_a1, extension=extension)
    with tenant_context(world.client_a1):
        extension.refresh_from_db()
    assert (extension.ha1_md5, extension.ha1_sha256) != before
    assert (extension.ha1_md5, extension.ha1_sha256) == sip_ha1("101", world.client_a1.sip_domain, secret)
