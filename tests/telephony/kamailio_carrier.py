"""Kamailio (Debian, installed by `make test` as for bench/kamailio/) standing in for a carrier: its
registrar with digest authentication, where the platform keeps itself registered, and its proxy.

The configuration is written here, per test, next to the credentials (db_text, HA1 hashes loaded into
memory) and Kamailio runs in the foreground as a child of the test, on `ip` (a loopback address of
its own, so the edge tells the carrier's calls from the phones' by address). It does what a SIP
trunking carrier does:

- REGISTER: digest challenge (qop=auth), the binding kept in memory (usrloc), 403 for a wrong secret;
- a call from the phone network (from `pstn_ip`) to a number: sent where the trunk's account is
  registered, the number kept in the Request-URI (as the edge reads a carrier's call);
- a call from the customer (anyone else): challenged with 407, and once authorized relayed to the far
  end (`far_end`, the phone network's side); wrong credentials are challenged again, as Kamailio's
  default configuration does;
- record-routed, so in-dialog requests pass it; OPTIONS answered 200 (the edge's pings).

Every challenge and authorization is logged with its Call-ID (`events()`), and `kamcmd` reads the
registrar's bindings (`bindings()`).
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.telephony.sipclient import SipClient

_REGISTRAR_PY = Path(__file__).resolve().parents[2] / "bench" / "kamailio" / "registrar.py"
_spec = importlib.util.spec_from_file_location("ocx_bench_kamailio_registrar", _REGISTRAR_PY)
registrar = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(registrar)

CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
server_signature=no

loadmodule "db_text.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "htable.so"
loadmodule "ctl.so"

modparam("htable", "db_url", "text://{dbdir}")
modparam("htable", "htable", "cred=>size=4;autoexpire=0;dbtable=credentials;cols='key_name,key_value'")
modparam("auth", "qop", "auth")
modparam("auth", "nonce_count", 1)
modparam("auth", "nonce_expire", 300)
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "min_expires", 60)
modparam("ctl", "binrpc", "unix:{ctl}")

request_route {{
	if (!mf_process_maxfwd_header("10")) {{
		sl_send_reply("483", "Too Many Hops");
		exit;
	}}
	if (!sanity_check()) {{
		exit;
	}}
	if (has_totag()) {{
		# In dialog: along the recorded route (ours first), or the ACK of an answer we sent ourselves.
		if (loose_route()) {{
			t_relay();
		}} else if (is_method("ACK") && t_check_trans()) {{
			t_relay();
		}}
		exit;
	}}
	if (is_method("CANCEL")) {{
		if (t_check_trans()) {{
			t_relay();
		}}
		exit;
	}}
	if (is_method("ACK")) {{
		exit;
	}}
	if (is_method("OPTIONS")) {{
		sl_send_reply("200", "OK");
		exit;
	}}
	if (!t_newtran()) {{
		sl_reply_error();
		exit;
	}}
	if (is_method("REGISTER")) {{
		route(REGISTRAR);
	}}
	if (!is_method("INVITE")) {{
		t_reply("405", "Method Not Allowed");
		exit;
	}}
	if ($si == "{pstn_ip}") {{
		route(TO_CUSTOMER);
	}}
	route(FROM_CUSTOMER);
}}

route[REGISTRAR] {{
	if (!has_credentials("{realm}")) {{
		www_challenge("{realm}", "1");
		exit;
	}}
	if ($sht(cred=>$au@{realm}) == $null || $au != $tU) {{
		t_reply("403", "Forbidden");
		exit;
	}}
	$var(rc) = pv_www_authenticate("{realm}", "$sht(cred=>$au@{realm})", "1");
	if ($var(rc) == -4 || $var(rc) == -6) {{
		www_challenge("{realm}", "17");
		exit;
	}}
	if ($var(rc) < 0) {{
		xlog("L_NOTICE", "ocx: register refused for $au\\n");
		t_reply("403", "Forbidden");
		exit;
	}}
	consume_credentials();
	save("location");
	exit;
}}

# A call from the phone network to one of the customer's numbers: where its trunk account is
# registered, with the number in the Request-URI.
route[TO_CUSTOMER] {{
	$var(number) = $rU;
	$ru = "sip:{trunk_user}@{realm}";
	if (!lookup("location")) {{
		xlog("L_NOTICE", "ocx: no binding for {trunk_user} ci=$ci\\n");
		t_reply("480", "Temporarily Unavailable");
		exit;
	}}
	$rU = $var(number);
	xlog("L_NOTICE", "ocx: to customer $ru ci=$ci\\n");
	record_route();
	t_relay();
	exit;
}}

# A call from the customer to the phone network: proxy authentication first.
route[FROM_CUSTOMER] {{
	if (!has_credentials("{realm}")) {{
		xlog("L_NOTICE", "ocx: challenge ci=$ci\\n");
		proxy_challenge("{realm}", "1");
		exit;
	}}
	$var(rc) = -1;
	if ($sht(cred=>$au@{realm}) != $null) {{
		$var(rc) = pv_proxy_authenticate("{realm}", "$sht(cred=>$au@{realm})", "1");
	}}
	if ($var(rc) < 0) {{
		xlog("L_NOTICE", "ocx: refused $au rc=$var(rc) ci=$ci\\n");
		proxy_challenge("{realm}", "1");
		exit;
	}}
	consume_credentials();
	xlog("L_NOTICE", "ocx: authorized $au ci=$ci\\n");
	$du = "sip:{far_end}";
	record_route();
	t_relay();
	exit;
}}
"""


@dataclass
class CarrierKamailio:
    """A running Kamailio carrier: its address, its trunk account and how to read what it did."""

    ip: str
    port: int
    realm: str
    workdir: Path
    process: subprocess.Popen
    accounts: dict[str, str] = field(default_factory=dict)  # user -> password

    @property
    def log(self) -> Path:
        return self.workdir / "kamailio.log"

    def log_tail(self) -> str:
        return registrar.log_tail(self.workdir, 60)

    def events(self, call_id: str | None = None) -> list[str]:
        """What it did with calls (challenges, authorizations, calls sent on: its `ocx:` log lines that
        end with a Call-ID, not the registrations), of one call when given."""
        lines = [line.split("ocx: ", 1)[1] for line in self.log.read_text(errors="replace").splitlines()
                 if "ocx: " in line and " ci=" in line]  # fmt: skip
        return [line for line in lines if call_id is None or line.endswith(f"ci={call_id}")]

    def bindings(self) -> str:
        """`kamcmd ul.dump`: the registrar's bindings as Kamailio reports them."""
        ctl = f"unix:{self.workdir / 'ctl'}"
        done = subprocess.run(["kamcmd", "-s", ctl, "ul.dump"], capture_output=True, text=True, timeout=10,
                              check=False)  # fmt: skip
        return done.stdout + done.stderr

    def stop(self) -> None:
        registrar.stop(self.process)


def udp_bound(ip: str, port: int) -> bool:
    """Whether a UDP socket is bound to ip:port on this machine (read from /proc/net/udp: probing by
    binding it ourselves could take the port from under the process starting there)."""
    local = f"{socket.inet_aton(ip)[::-1].hex().upper()}:{port:04X}"
    wildcard = f"00000000:{port:04X}"
    with open("/proc/net/udp") as table:
        return any(line.split()[1] in (local, wildcard) for line in list(table)[1:])


def answers(ip: str, port: int) -> bool:
    probe = SipClient((ip, port), "probe", "probe.invalid")
    try:
        probe.send_raw(
            (
                f"OPTIONS sip:{ip}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{probe.port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:probe@probe.invalid>;tag=p\r\nTo: <sip:{ip}:{port}>\r\n"
                f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode()
        )
        answer = probe.receive(timeout=0.3)
        return answer is not None and answer.status == 200
    finally:
        probe.close()


def start(workdir: Path, *, ip: str, port: int, realm: str, trunk_user: str, accounts: dict[str, str],
          pstn_ip: str, far_end: str, timeout: float = 10.0) -> CarrierKamailio:  # fmt: skip
    """Start it on ip:port (UDP) and wait until it answers OPTIONS; RuntimeError with its log's tail
    when it does not come up. `far_end` is host:port of the phone network's side (the calls it relays
    out); calls from `pstn_ip` go to where `trunk_user` is registered."""
    binary = registrar.kamailio_binary()
    if binary is None:
        raise RuntimeError(registrar.NOT_INSTALLED)
    workdir.mkdir(parents=True, exist_ok=True)
    dbdir, runtime = workdir / "dbtext", workdir / "run"
    registrar.write_credentials(dbdir, [(user, realm, password) for user, password in accounts.items()])
    runtime.mkdir(exist_ok=True)
    config = workdir / "carrier.cfg"
    config.write_text(CONFIG.format(dbdir=dbdir, ctl=workdir / "ctl", realm=realm, trunk_user=trunk_user,
                                    pstn_ip=pstn_ip, far_end=far_end))  # fmt: skip
    cmd = [binary, "-DD", "-E", "-f", str(config), "-l", f"udp:{ip}:{port}", "-n", "1", "-T", "-S",
           "-Y", str(runtime), "-m", "64", "-a", "no"]  # fmt: skip
    with (workdir / "kamailio.log").open("wb") as log:
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    carrier = CarrierKamailio(ip, port, realm, workdir, process, dict(accounts))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kamailio exited with {process.returncode}:\n{carrier.log_tail()}")
        if answers(ip, port):
            return carrier
    carrier.stop()
    raise RuntimeError(f"kamailio did not answer on {ip}:{port} within {timeout} s:\n{carrier.log_tail()}")
