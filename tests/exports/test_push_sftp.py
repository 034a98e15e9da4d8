"""Pushes to a real SFTP server (asyncssh's, in a thread): password and key logins, the server key kept
at the first login and enforced after, wrong credentials, a server down then back."""

from __future__ import annotations

import asyncssh

from exports.crypto import decrypt
from exports.models import PushDestination
from exports.services import push_destination_update
from tests.exports.test_push import ids_in, run


def test_password_push_keeps_the_server_key(world, sftp_server, make_cdr, make_destination):
    destination = make_destination(sftp_server, protocol="sftp")
    cdr = make_cdr(world.client_a1, minutes=1)
    file = run(destination, 10)
    assert file.status == "done", file.last_error
    assert list(sftp_server.files()) == [file.name] and ids_in(sftp_server.files()[file.name]) == [cdr.pk]
    destination.refresh_from_db()
    assert destination.host_key == sftp_server.public_host_key(), "trusted from the first login on"

    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    PushDestination.objects.filter(pk=destination.pk).update(host_key=impostor)
    make_cdr(world.client_a1, minutes=12)
    refused = run(destination, 20)
    assert refused.status == "open"
    destination.refresh_from_db()
    assert "did not show the server key on record" in destination.last_error and destination.cursor_at == file.window_to


def test_key_login_and_wrong_password(world, sftp_server, make_cdr, make_destination):
    destination = make_destination(sftp_server, protocol="sftp", secret="wrong-password")
    cdr = make_cdr(world.client_a2, minutes=1)
    assert run(destination, 10).status == "open"
    destination.refresh_from_db()
    assert destination.last_error.startswith(f"sftp://127.0.0.1:{sftp_server.port}/ refused the login of cdrs")
    assert sftp_server.files() == {}

    key = asyncssh.generate_private_key("ssh-ed25519")
    sftp_server.authorized.append(key)
    private = key.export_private_key().decode()
    push_destination_update(actor=world.brand_a_op, destination=destination, uses_key=True, secret=private)
    destination.refresh_from_db()
    assert private not in destination.secret and decrypt(destination.secret) == private, "encrypted at rest"
    file = run(destination, 20)
    assert file.status == "done" and ids_in(sftp_server.files()[file.name]) == [cdr.pk]


def test_server_down_then_back(world, sftp_server, make_cdr, make_destination):
    destination = make_destination(sftp_server, protocol="sftp")
    first = make_cdr(world.client_a1, minutes=1)
    sftp_server.stop()
    assert run(destination, 10).status == "open"
    second = make_cdr(world.client_a1, minutes=11)
    sftp_server.start()
    file = run(destination, 20)
    assert file.status == "done" and file.name == "brand-a-20261102T090000Z-20261102T092000Z.csv"
    assert ids_in(sftp_server.files()[file.name]) == [first.pk, second.pk]
