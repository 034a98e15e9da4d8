"""SIPp (Debian's sip-tester) registering many lines with digest authentication through the edge."""

from __future__ import annotations

import secrets
import subprocess

from django.conf import settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from telephony.directory import sip_directory_sync
from telephony.models import Extension
from telephony.services import sip_ha1
from tenants.models import Role, User
from tests.telephony.conftest import free_port, start_edge

SCENARIO = settings.BASE_DIR / "tests" / "sip" / "sipp" / "register_auth.xml"


def test_sipp_registers_200_times_without_a_failure_or_retransmission(world, sip_lines, tmp_path):
    client, domain = world.client_a2, world.client_a2.sip_domain
    lines = [(f"s{i:03d}", secrets.token_hex(8)) for i in range(50)]
    accounts = User.objects.bulk_create(
        [User(email=f"{u}@sipp.example", name=u, role=Role.USER, client=client, password="!") for u, _ in lines]
    )
    with tenant_context(client):
        Extension.objects.bulk_create([
            Extension(account=a, number=f"5{i:02d}", display_name=u, sip_username=u, ha1_md5=sip_ha1(u, domain, s)[0],
                      ha1_sha256=sip_ha1(u, domain, s)[1], secret_changed_at=timezone.now())
            for i, (a, (u, s)) in enumerate(zip(accounts, lines, strict=True))
        ])  # fmt: skip
    sip_directory_sync()
    users = tmp_path / "users.csv"
    users.write_text("SEQUENTIAL\n" + "".join(
        f"{u};{domain};{s};[authentication username={u} password={s}]\n" for u, s in lines))  # fmt: skip
    edge = start_edge(OCX_SIP_DIGEST_ALGORITHMS="MD5", OCX_SIP_TRUSTED="127.0.0.0/8")
    try:
        stats = tmp_path / "stats.csv"
        result = subprocess.run(
            ["sipp", f"127.0.0.1:{edge.port}", "-sf", str(SCENARIO), "-inf", str(users), "-t", "un",
             "-max_socket", "1000", "-r", "100", "-m", "200", "-i", "127.0.0.1", "-bind_local", "-p", str(free_port()),
             "-cp", str(free_port()), "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1", "-timeout", "30s"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        header, *rows = [line.split(";") for line in stats.read_text().splitlines() if line]
        final = dict(zip(header, rows[-1], strict=False))
        assert result.returncode == 0, (result.stdout[-2000:], edge.log_tail())
        assert int(final["SuccessfulCall(C)"]) == 200
        assert int(final["FailedCall(C)"]) == 0
        assert int(final["Retransmissions(C)"]) == 0
    finally:
        edge.stop()
