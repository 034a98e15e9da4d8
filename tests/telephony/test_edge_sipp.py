"""SIPp (Debian's sip-tester) through the edge: many lines registering, and calls with proxy
authentication to a SIPp user agent standing in for a call engine."""

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
from tests.telephony.conftest import EngineHeartbeat, free_port, start_edge

SCENARIOS = settings.BASE_DIR / "tests" / "sip" / "sipp"
SCENARIO = SCENARIOS / "register_auth.xml"


def sipp_lines(client, count: int) -> list[tuple[str, str]]:
    """Lines s000... with random secrets in a client, published to the SIP directory."""
    domain = client.sip_domain
    lines = [(f"s{i:03d}", secrets.token_hex(8)) for i in range(count)]
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
    return lines


def final_stats(path) -> dict[str, str]:
    header, *rows = [line.split(";") for line in path.read_text().splitlines() if line]
    return dict(zip(header, rows[-1], strict=False))


def test_sipp_registers_200_times_without_a_failure_or_retransmission(world, sip_lines, tmp_path):
    domain = world.client_a2.sip_domain
    lines = sipp_lines(world.client_a2, 50)
    users = tmp_path / "users.csv"
    users.write_text("SEQUENTIAL\n" + "".join(
        f"{u};{domain};{s};[authentication username={u} password={s}]\n" for u, s in lines))  # fmt: skip
    edge = start_edge(OCX_SIP_TRUSTED="127.0.0.0/8")
    try:
        stats = tmp_path / "stats.csv"
        result = subprocess.run(
            ["sipp", f"127.0.0.1:{edge.port}", "-sf", str(SCENARIO), "-inf", str(users), "-auth_uri", domain,
             "-t", "un", "-max_socket", "1000", "-r", "100", "-m", "200", "-i", "127.0.0.1", "-bind_local", "-p",
             str(free_port()), "-cp", str(free_port()), "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1",
             "-timeout", "30s"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        final = final_stats(stats)
        assert result.returncode == 0, (result.stdout[-2000:], edge.log_tail())
        assert int(final["SuccessfulCall(C)"]) == 200
        assert int(final["FailedCall(C)"]) == 0
        assert int(final["Retransmissions(C)"]) == 0
    finally:
        edge.stop()


def test_sipp_calls_pass_the_edge_with_proxy_authentication_to_an_engine(world, sip_lines, tmp_path):
    """20 calls: INVITE, 407, INVITE with credentials, 180, 200, ACK and BYE along the edge's route."""
    domain = world.client_a2.sip_domain
    caller, secret = sipp_lines(world.client_a2, 1)[0]
    users = tmp_path / "callers.csv"
    users.write_text(f"SEQUENTIAL\n{caller};{domain};{secret};[authentication username={caller} password={secret}]\n")
    edge = start_edge()
    engine_port = free_port()
    common = ["-i", "127.0.0.1", "-bind_local", "-nostdin", "-trace_stat", "-fd", "1", "-timeout", "30s"]
    engine = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "engine_uas.xml"), "-t", "u1", "-p", str(engine_port), "-mp",
         str(free_port()), "-cp", str(free_port()), "-stf", str(tmp_path / "engine.csv"), *common],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    heartbeat = EngineHeartbeat(engine_port)
    try:
        edge.sees(heartbeat.info.id)
        stats = tmp_path / "calls.csv"
        result = subprocess.run(
            ["sipp", f"127.0.0.1:{edge.port}", "-sf", str(SCENARIOS / "call_auth.xml"), "-inf", str(users),
             "-s", "102", "-auth_uri", f"102@{domain}", "-t", "u1", "-r", "10", "-m", "20", "-p", str(free_port()),
             "-mp", str(free_port()), "-cp", str(free_port()), "-stf", str(stats), *common],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        final = final_stats(stats)
        assert result.returncode == 0, (result.stdout[-2000:], edge.log_tail())
        assert (int(final["SuccessfulCall(C)"]), int(final["FailedCall(C)"])) == (20, 0)
    finally:
        heartbeat.stop()
        engine.terminate()
        engine.wait(10)
        edge.stop()
