"""Real ACME and DNS servers on loopback for the certificate tests.

- Debian's ``pebble`` (an RFC 8555 CA) with ``-dnsserver`` pointing at one of
- ``pebble-challtestsrv`` (its management API sets TXT records: the hook scripts call it), or
- BIND 9's ``named`` in the foreground with a generated config: zone ``fleet.test`` takes
  RFC 2136 updates signed by a per-device TSIG key, scoped by ``update-policy`` to the
  device's own ``_acme-challenge`` name, plus ``acme.fleet.test`` for the CNAME set-up.

Ports are chosen free; every wait is bounded; every process is stopped by its fixture.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
from cryptography import x509

from kiosk.web import devca

START_TIMEOUT_S = 20.0


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (DNS needs both)."""
    for _ in range(50):
        with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def need(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if path is None:
        raise RuntimeError(f"{binary} is not installed: run os-image/install.sh test (os-image/packages/test.apt)")
    return path


def _wait(check, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}): {log.read_text()[-2000:]}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {START_TIMEOUT_S} s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def _process(args: list[str], log: Path, env: dict | None = None) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def txt_at(port: int, name: str) -> set[str]:
    q = dns.message.make_query(name, dns.rdatatype.TXT)
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    return {b"".join(rd.strings).decode() for rrset in r.answer if rrset.rdtype == dns.rdatatype.TXT for rd in rrset}


# --- challtestsrv ---------------------------------------------------------------------


@dataclass
class ChallTestSrv:
    dns_port: int
    mgmt_port: int

    def post(self, path: str, body: dict) -> None:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.mgmt_port}{path}", data=json.dumps(body).encode(), method="POST"
        )
        urllib.request.urlopen(req, timeout=5).read()


@contextlib.contextmanager
def challtestsrv(tmp: Path) -> Iterator[ChallTestSrv]:
    srv = ChallTestSrv(free_port(), free_port())
    args = [
        need("pebble-challtestsrv"),
        "-dns01", f"127.0.0.1:{srv.dns_port}",
        "-management", f"127.0.0.1:{srv.mgmt_port}",
        "-http01", "", "-https01", "", "-tlsalpn01", "",
    ]
    log = tmp / "challtestsrv.log"
    with _process(args, log) as proc:
        _wait(lambda: socket.create_connection(("127.0.0.1", srv.mgmt_port), timeout=1).close() or True,
              "pebble-challtestsrv", proc, log)
        yield srv


def hook_scripts(tmp: Path, srv: ChallTestSrv, fail: bool = False, delay_s: float = 0.0) -> tuple[str, str, Path]:
    """certbot-style auth and cleanup hooks that drive challtestsrv; both log their calls."""
    calls = tmp / "hook-calls.log"
    common = f"""#!{sys.executable}
import json, os, sys, time, urllib.request
d, v = os.environ["CERTBOT_DOMAIN"], os.environ["CERTBOT_VALIDATION"]
def post(path, body):
    req = urllib.request.Request("http://127.0.0.1:{srv.mgmt_port}" + path, data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()
"""
    auth = tmp / "auth-hook"
    auth.write_text(
        common
        + f"open({str(calls)!r}, 'a').write('auth ' + d + '\\n')\n"
        + ("sys.stderr.write('provider said no: zone is locked\\n'); sys.exit(3)\n" if fail else "")
        + (
            # set the record a moment later, from the background: the kiosk must wait for it
            f"if os.fork() == 0:\n    time.sleep({delay_s})\n"
            "    post('/set-txt', {'host': '_acme-challenge.' + d + '.', 'value': v})\n    os._exit(0)\n"
            if delay_s
            else "post('/set-txt', {'host': '_acme-challenge.' + d + '.', 'value': v})\n"
        )
    )
    cleanup = tmp / "cleanup-hook"
    cleanup.write_text(
        common
        + f"open({str(calls)!r}, 'a').write('cleanup ' + d + '\\n')\n"
        + "post('/clear-txt', {'host': '_acme-challenge.' + d + '.'})\n"
    )
    for script in (auth, cleanup):
        script.chmod(0o755)
    return str(auth), str(cleanup), calls


# --- pebble ---------------------------------------------------------------------------


@dataclass
class Pebble:
    directory: str
    mgmt: str
    ca_bundle: Path  # trusts pebble's own HTTPS
    tmp: Path

    def _ctx(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def root_pem(self) -> bytes:
        return urllib.request.urlopen(f"{self.mgmt}/roots/0", context=self._ctx(), timeout=5).read()

    def roots_file(self) -> Path:
        path = self.tmp / "pebble-roots.pem"
        path.write_bytes(self.root_pem())
        return path

    def root(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.root_pem())


@contextlib.contextmanager
def pebble(tmp: Path, dns_port: int, eab: dict[str, str] | None = None, **env: str) -> Iterator[Pebble]:
    tmp.mkdir(parents=True, exist_ok=True)
    ca = devca.make_ca("pebble API test CA")
    leaf = devca.issue_leaf(ca, ["localhost"])
    bundle, cert, key = tmp / "api-ca.pem", tmp / "api-cert.pem", tmp / "api-key.pem"
    bundle.write_bytes(devca.cert_pem(ca.cert))
    devca.write_leaf(leaf, [], cert, key)
    port, mgmt = free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{mgmt}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "certificateValidityPeriod": 90 * 86400,
        }
    }
    if eab:
        config["pebble"].update(externalAccountBindingRequired=True, externalAccountMACKeys=eab)
    (tmp / "pebble.json").write_text(json.dumps(config))
    environ = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", **env}
    if "PEBBLE_VA_SLEEPTIME" in env:
        environ.pop("PEBBLE_VA_NOSLEEP")
    log = tmp / "pebble.log"
    server = Pebble(f"https://localhost:{port}/dir", f"https://localhost:{mgmt}", bundle, tmp)
    args = [need("pebble"), "-config", str(tmp / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns_port}"]
    with _process(args, log, env=environ) as proc:
        _wait(lambda: urllib.request.urlopen(server.directory, context=server._ctx(), timeout=1), "pebble", proc, log)
        yield server


# --- BIND -----------------------------------------------------------------------------


@dataclass
class Bind:
    port: int
    keys: dict[str, Path]  # device id -> secret file
    secrets: dict[str, str]


ZONE = """$TTL 60
@   IN SOA ns.{zone}. hostmaster.{zone}. 1 60 60 600 60
@   IN NS  ns.{zone}.
ns  IN A   127.0.0.1
{extra}
"""


@contextlib.contextmanager
def bind(tmp: Path, devices: tuple[str, ...] = ("kiosk-001", "kiosk-002")) -> Iterator[Bind]:
    """named -g with zone fleet.test: per-device update-policy, and a CNAME'd challenge name."""
    tmp.mkdir(parents=True, exist_ok=True)
    os.chmod(tmp, 0o777)  # named may drop to the bind user for its journal files
    port = free_port()
    keys, secrets_ = {}, {}
    key_conf, grants = [], []
    for dev in devices:
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        secrets_[dev] = secret
        keys[dev] = tmp / f"{dev}.secret"
        keys[dev].write_text(secret + "\n")
        keys[dev].chmod(0o600)
        key_conf.append(f'key "{dev}" {{ algorithm hmac-sha256; secret "{secret}"; }};')
        grants.append(f"grant {dev} name _acme-challenge.{dev}.fleet.test. TXT;")
        grants.append(f"grant {dev} name {dev}.acme.fleet.test. TXT;")
    # kiosk-002 shows the fleet set-up: its _acme-challenge is a CNAME to a name its key may
    # update. (In the field the target sits in a separate, delegated zone and the CA's
    # resolver follows the chain across zones; pebble asks one server and follows only
    # what that server answers, so here the target stays in the same zone.)
    (tmp / "fleet.test.zone").write_text(
        ZONE.format(zone="fleet.test", extra="_acme-challenge.kiosk-002 IN CNAME kiosk-002.acme.fleet.test.")
    )
    conf = tmp / "named.conf"
    conf.write_text(
        f"""options {{
  directory "{tmp}";
  listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  recursion no;
  dnssec-validation no;
  pid-file "{tmp}/named.pid";
  session-keyfile "{tmp}/session.key";
}};
controls {{ }};
{chr(10).join(key_conf)}
zone "fleet.test" {{ type primary; file "{tmp}/fleet.test.zone"; update-policy {{ {" ".join(grants)} }}; }};
"""
    )
    for f in tmp.iterdir():
        if f.suffix == ".zone":
            f.chmod(0o666)
    log = tmp / "named.log"
    with _process([need("named"), "-g", "-c", str(conf)], log) as proc:
        def up() -> bool:
            q = dns.message.make_query("fleet.test.", dns.rdatatype.SOA)
            return bool(dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5).answer)

        _wait(up, "named", proc, log)
        yield Bind(port, keys, secrets_)


# --- certificates ---------------------------------------------------------------------


def near_expiry_pair(cert: Path, key: Path, host: str, days_left: float = 5.0) -> devca.Issued:
    """A valid per-device certificate from a throw-away CA, in its last third of life."""
    ca = devca.make_ca("old fleet CA")
    now = dt.datetime.now(dt.UTC)
    leaf = devca.issue_leaf(ca, [host], now - dt.timedelta(days=90 - days_left), now + dt.timedelta(days=days_left))
    cert.parent.mkdir(parents=True, exist_ok=True)
    devca.write_leaf(leaf, [ca.cert], cert, key)
    return ca
