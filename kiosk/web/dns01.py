"""Publishing and removing the DNS-01 TXT record, two ways an operator already knows.

- ``Rfc2136``: an RFC 2136 dynamic update signed with TSIG (dnspython), as BIND, Knot and
  PowerDNS take it. The server can scope the key to this device's own
  ``_acme-challenge`` name (BIND's ``update-policy``), so a stolen kiosk cannot issue
  certificates for its neighbours.
- ``Hooks``: certbot's ``--manual-auth-hook`` / ``--manual-cleanup-hook`` contract, so an
  operator's existing hooks for their DNS provider work unchanged: a shell command run
  with ``CERTBOT_DOMAIN`` and ``CERTBOT_VALIDATION`` (and the rest of certbot's
  variables) in its environment; the cleanup hook also gets ``CERTBOT_AUTH_OUTPUT``.

``wait_visible`` then polls the authoritative server (not a cache) until the record is
there, bounded, so the CA is not asked to look before the record exists.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update

from kiosk.errors import CertError

log = logging.getLogger(__name__)

TTL = 60
QUERY_TIMEOUT_S = 3.0
HOOK_TIMEOUT_S = 300.0


@dataclass
class Record:
    """One published challenge: what was asked for and where it went."""

    domain: str  # the identifier without "*." (certbot's CERTBOT_DOMAIN)
    name: str  # the TXT owner actually written (the CNAME target, if aliased)
    validation: str
    all_domains: str = ""
    remaining: int = 0
    output: str = ""  # the auth hook's stdout, for the cleanup hook
    target: str = ""  # RFC 2136: the owner really updated (after the fleet CNAME)
    zone: str = ""  # ... and its zone


class Publisher(Protocol):
    """Raises CertError (area certs) with a fix on every failure."""

    def publish(self, record: Record) -> None: ...

    def remove(self, record: Record) -> None: ...

    def check_server(self) -> tuple[str, int] | None:
        """The authoritative server to poll for propagation (None: cannot check)."""
        ...

    def check_name(self, record: Record) -> str:
        """The name to look up there."""
        ...


def _absolute(name: str) -> dns.name.Name:
    return dns.name.from_text(name.rstrip(".") + ".")


def split_server(text: str, default_port: int = 53) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if port and not port.isdigit():
        raise CertError(
            "certs.dns-config", f"{text!r} is not host[:port]", "write the server as host or host:port"
        )
    return address(host), int(port) if port else default_port


def address(host: str) -> str:
    """dnspython talks to addresses; a configured server name is resolved once here."""
    try:
        return socket.getaddrinfo(host, 53, type=socket.SOCK_DGRAM)[0][4][0]
    except (socket.gaierror, UnicodeError, IndexError) as e:
        raise CertError(
            "certs.dns-unreachable",
            f"the DNS server name {host!r} does not resolve",
            "set the server as an IP address, or fix the name",
        ) from e


# --- RFC 2136 -------------------------------------------------------------------------


@dataclass
class Rfc2136:
    server: str
    port: int
    key_name: str
    algorithm: str
    secret_file: str
    alias: str = ""  # the fleet CNAME's target, written instead of _acme-challenge.<domain>
    _key: dns.tsig.Key | None = field(default=None, repr=False)

    def _tsig(self) -> dns.tsig.Key:
        if self._key is not None:
            return self._key
        if not (self.server and self.key_name and self.secret_file):
            raise CertError(
                "certs.dns-config",
                "RFC 2136 needs a server, a TSIG key name and a secret file",
                "set [certs] rfc2136_server, rfc2136_tsig_name and rfc2136_secret_file",
            )
        try:
            secret = Path(self.secret_file).read_text().strip()
            base64.b64decode(secret, validate=True)
        except OSError as e:
            raise CertError(
                "certs.dns-config",
                f"cannot read the TSIG secret {self.secret_file}: {e.strerror}",
                "check [certs] rfc2136_secret_file and its permissions (0600, owned by the kiosk user)",
            ) from e
        except (binascii.Error, ValueError) as e:
            raise CertError(
                "certs.dns-config",
                f"{self.secret_file} does not hold a base64 TSIG secret",
                "put the key's secret (the base64 text from tsig-keygen) alone in the file",
            ) from e
        try:
            self._key = dns.tsig.Key(self.key_name, secret, self.algorithm)
        except Exception as e:  # dnspython raises several kinds for a bad algorithm name
            raise CertError(
                "certs.dns-config",
                f"unknown TSIG algorithm {self.algorithm!r}",
                "set [certs] rfc2136_algorithm to e.g. hmac-sha256",
            ) from e
        return self._key

    def _locate(self, record: Record) -> tuple[dns.name.Name, dns.name.Name]:
        """(owner to update, its zone): ``rfc2136_name`` if set, else ``_acme-challenge.<domain>``
        with the fleet CNAME followed as this server answers it, and the zone from the SOA
        the server names for that owner (answer or authority section)."""
        owner = _absolute(self.alias or record.name)
        for _ in range(8):  # a CNAME chain longer than this is a loop
            query = dns.message.make_query(owner, dns.rdatatype.SOA)
            query.flags &= ~dns.flags.RD
            response = self._ask(query, "find the zone of " + owner.to_text())
            cname = next(
                (r for r in response.answer if r.rdtype == dns.rdatatype.CNAME and r.name == owner), None
            )
            if cname is not None and not self.alias:
                owner = cname[0].target
                continue
            for section in (response.answer, response.authority):
                for rrset in section:
                    if rrset.rdtype == dns.rdatatype.SOA:
                        return owner, rrset.name
            break
        raise CertError(
            "certs.dns-zone",
            f"{self.server} is not authoritative for {owner.to_text()}",
            "point [certs] rfc2136_server at the primary of the zone taking the updates "
            "(or set rfc2136_name to the CNAME target there)",
        )

    def _ask(self, message: dns.message.Message, what: str) -> dns.message.Message:
        try:
            return dns.query.tcp(message, address(self.server), timeout=QUERY_TIMEOUT_S, port=self.port)
        except dns.tsig.PeerError as e:  # the server refused our signature (BADSIG, BADKEY, BADTIME)
            raise CertError(
                "certs.dns-tsig",
                f"{self.server} rejected the TSIG key {self.key_name!r} ({type(e).__name__}) "
                f"while trying to {what}",
                "check [certs] rfc2136_tsig_name, rfc2136_algorithm and the secret file against the "
                "DNS server's key (and the device clock: TSIG allows 5 minutes)",
            ) from e
        except (OSError, dns.exception.DNSException) as e:
            raise CertError(
                "certs.dns-unreachable",
                f"cannot reach the DNS server {self.server}:{self.port} to {what}: {e}",
                "check [certs] rfc2136_server / rfc2136_port and that the network is up",
            ) from e

    def _update(self, record: Record, add: bool) -> None:
        key = self._tsig()
        if add or not record.target:
            owner, zone = self._locate(record)
            record.target, record.zone = owner.to_text(), zone.to_text()
        owner, zone = _absolute(record.target), _absolute(record.zone)
        update = dns.update.UpdateMessage(zone, keyring=key)
        quoted = f'"{record.validation}"'
        if add:
            update.add(owner, TTL, dns.rdatatype.TXT, quoted)
        else:
            update.delete(owner, dns.rdatatype.TXT, quoted)
        what = ("add" if add else "remove") + f" the TXT record {owner.to_text()}"
        response = self._ask(update, what)
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        if rcode in (dns.rcode.NOTAUTH, dns.rcode.REFUSED):
            raise CertError(
                "certs.dns-tsig" if rcode == dns.rcode.NOTAUTH else "certs.dns-refused",
                f"{self.server} refused to {what} ({dns.rcode.to_text(rcode)})",
                f"the DNS server must let the key {self.key_name!r} update {owner.to_text()} TXT "
                "(BIND: update-policy { grant <key> name <that name> TXT; }) and the key must match",
            )
        raise CertError(
            "certs.dns-update",
            f"{self.server} could not {what} ({dns.rcode.to_text(rcode)})",
            "check the DNS server's log for the update",
        )

    def publish(self, record: Record) -> None:
        self._update(record, add=True)

    def remove(self, record: Record) -> None:
        self._update(record, add=False)

    def check_server(self) -> tuple[str, int] | None:
        return (address(self.server), self.port)

    def check_name(self, record: Record) -> str:
        return record.target or self.alias or record.name


# --- certbot hooks --------------------------------------------------------------------


@dataclass
class Hooks:
    auth_hook: str
    cleanup_hook: str
    check: str = ""  # host[:port] of the authoritative server, for the propagation wait
    timeout_s: float = HOOK_TIMEOUT_S

    def _env(self, record: Record) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CERTBOT_DOMAIN=record.domain,
            CERTBOT_VALIDATION=record.validation,
            CERTBOT_TOKEN="",
            CERTBOT_REMAINING_CHALLENGES=str(record.remaining),
            CERTBOT_ALL_DOMAINS=record.all_domains or record.domain,
        )
        return env

    def _run(self, which: str, command: str, env: dict[str, str]) -> str:
        if not command:
            raise CertError(
                "certs.dns-config",
                f"dns = hook needs [certs] {which}",
                f"set [certs] {which} to the command certbot would run (--manual-{which.replace('_', '-')})",
            )
        try:
            done = subprocess.run(
                command, shell=True, env=env, capture_output=True, text=True, timeout=self.timeout_s
            )
        except subprocess.TimeoutExpired as e:
            raise CertError(
                "certs.dns-hook",
                f"the {which} {command!r} did not finish within {self.timeout_s:.0f} s",
                "make the hook return once the record is set (the kiosk waits for propagation itself)",
            ) from e
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise CertError(
                "certs.dns-hook",
                f"the {which} {command!r} failed with exit code {done.returncode}"
                + (f": {' / '.join(tail)}" if tail else ""),
                f"run it by hand with CERTBOT_DOMAIN and CERTBOT_VALIDATION set and fix [certs] {which}",
            )
        return done.stdout

    def publish(self, record: Record) -> None:
        record.output = self._run("auth_hook", self.auth_hook, self._env(record)).strip()

    def remove(self, record: Record) -> None:
        if not self.cleanup_hook:
            return  # certbot's cleanup hook is optional too
        env = self._env(record)
        env["CERTBOT_AUTH_OUTPUT"] = record.output
        self._run("cleanup_hook", self.cleanup_hook, env)

    def check_server(self) -> tuple[str, int] | None:
        return split_server(self.check) if self.check else None

    def check_name(self, record: Record) -> str:
        return record.name


# --- propagation ----------------------------------------------------------------------


def txt_values(server: tuple[str, int], name: str) -> set[str]:
    """The TXT strings the server itself answers for ``name`` (CNAMEs followed in its answer)."""
    query = dns.message.make_query(_absolute(name), dns.rdatatype.TXT)
    query.flags &= ~dns.flags.RD
    response = dns.query.udp(query, server[0], timeout=QUERY_TIMEOUT_S, port=server[1])
    values = set()
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            for rdata in rrset:
                values.add(b"".join(rdata.strings).decode("ascii", "replace"))
    return values


def wait_visible(
    server: tuple[str, int] | None,
    name: str,
    value: str,
    timeout_s: float,
    interval_s: float = 0.5,
    clock=time.monotonic,
    sleep=time.sleep,
) -> bool:
    """Poll the authoritative ``server`` until ``name`` has the TXT ``value``.

    Returns False when there is no server to ask (the CA is asked anyway); raises
    CertError when the record does not show within the bound. ``sleep`` may return early
    (a stop event's ``wait``): the caller checks why.
    """
    if server is None:
        return False
    deadline = clock() + timeout_s
    last_error = ""
    while True:
        try:
            if value in txt_values(server, name):
                return True
            last_error = "the record is not there yet"
        except (OSError, dns.exception.DNSException) as e:
            last_error = str(e) or type(e).__name__
        if clock() >= deadline:
            raise CertError(
                "certs.dns-propagation",
                f"the TXT record {name} did not appear on {server[0]}:{server[1]} within "
                f"{timeout_s:.0f} s ({last_error})",
                "check that the update or auth hook writes to the zone served there, or raise "
                "[certs] propagation_timeout_s",
            )
        if sleep(interval_s):  # an Event.wait that was set: stop polling
            return True
