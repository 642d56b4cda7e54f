"""Getting this device's certificate from an ACME CA over DNS-01 (certbot's ``acme`` library).

The protocol (JWS, nonces, orders, authorizations, finalisation) is certbot's ``acme``
library; nothing here signs a request by hand. What this module adds is what a kiosk
needs around it:

- one account key (EC P-256, 0600) in ``<data dir>/acme/``, made once and reused, so a
  re-install of the kiosk software does not make a new account at the CA;
- a fresh certificate key per issuance (the old key never outlives its certificate);
- badNonce answers retried a few times more than the library's one retry (Pebble rejects
  5% of good nonces on purpose, and so may a real CA under load), and the CA's
  ``Retry-After`` kept, so a rate limit is honoured by the scheduler (renewal.py);
- the DNS-01 records published through dns01 (RFC 2136 or certbot hooks), checked on the
  authoritative server before the CA is asked to look, and removed again in ``finally``;
- the issued pair written beside the old one, validated for this device with the same
  checks as at start (certs.validate: name, key match, dates, browser-style path), and
  only then renamed into place, key first, so the running server's watcher (tls.py)
  swaps it in without a restart and a bad issuance never replaces a good certificate.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import josepy as jose
import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kiosk.config import Config
from kiosk.errors import CertError
from kiosk.web import dns01
from kiosk.web.certs import CertReport, cert_paths, device_hostname, load_roots, validate
from kiosk.web.devca import key_pem, new_key, write_private, write_public

log = logging.getLogger(__name__)

NONCE_RETRIES = 10  # each is the library's post, which itself retries a badNonce once
ORDER_DEADLINE_S = 90.0
NETWORK_TIMEOUT_S = 30
USER_AGENT = "kiosk-acme (certbot acme library)"


# --- where things live ----------------------------------------------------------------


def acme_dir(config: Config) -> Path:
    return config.data_dir / "acme"


def requested_names(config: Config) -> list[str]:
    host = device_hostname(config)
    if config.certs.name == "wildcard":
        return ["*." + config.web.fleet_domain.lower().rstrip(".")]
    return [host]


def account_key(directory: Path) -> jose.JWKEC:
    """The ACME account key: made once (0600, in a 0700 folder), then always reused."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "account.key"
    if not path.exists():
        write_private(path, key_pem(ec.generate_private_key(ec.SECP256R1())))
        log.info("made a new ACME account key %s", path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise CertError(
            "certs.acme-account-key",
            f"the ACME account key {path} is unreadable",
            f"restore it from backup, or delete {path} to register a new account",
        ) from e
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError("certs.acme-account-key", f"{path} is not an EC key", f"delete {path}")
    return jose.JWKEC(key=key)


def publisher(config: Config) -> dns01.Rfc2136 | dns01.Hooks:
    c = config.certs
    if c.dns == "hook":
        return dns01.Hooks(c.auth_hook, c.cleanup_hook, check=c.check_server)
    return dns01.Rfc2136(
        c.rfc2136_server, c.rfc2136_port, c.rfc2136_tsig_name, c.rfc2136_algorithm, c.rfc2136_secret_file,
        alias=c.rfc2136_name,
    )


# --- the network ----------------------------------------------------------------------


def _retry_after_s(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now or time.time()))


class Network(client.ClientNetwork):
    """The library's network, with more patience for badNonce and an ear for Retry-After."""

    def __init__(self, key: jose.JWK, ca_bundle: str = "") -> None:
        super().__init__(
            key, alg=jose.ES256, verify_ssl=ca_bundle or True, user_agent=USER_AGENT, timeout=NETWORK_TIMEOUT_S
        )
        self.retry_after: float | None = None
        self.nonce_retries = 0
        self.bad_nonces = 0  # every badNonce answer, including those the library retried
        self.session.hooks["response"].append(self._note)  # requests' public hook

    def _note(self, response: requests.Response, *args, **kwargs) -> None:
        if response.status_code == 400 and b"badNonce" in response.content:
            self.bad_nonces += 1
        if response.status_code >= 400:
            seconds = _retry_after_s(response.headers.get("Retry-After"))
            if seconds is not None:
                self.retry_after = seconds

    def post(self, *args, **kwargs) -> requests.Response:
        for attempt in range(NONCE_RETRIES):
            try:
                return super().post(*args, **kwargs)
            except messages.Error as e:
                if e.code != "badNonce" or attempt == NONCE_RETRIES - 1:
                    raise
                self.nonce_retries += 1
                log.debug("badNonce again; retrying (%d)", attempt + 1)
        raise AssertionError("unreachable")


class AcmeError(CertError):
    """A failed exchange with the CA; ``retry_after_s`` is the CA's Retry-After, if it sent one."""

    retry_after_s: float | None = None


@contextmanager
def _coded(directory_url: str, net: Network) -> Iterator[None]:
    """The library's exceptions as coded errors, with the CA's Retry-After attached."""
    try:
        yield
    except CertError:
        raise
    except Exception as e:
        err = _translate(e, directory_url)
        if err is None:
            raise
        err.retry_after_s = net.retry_after
        raise err from e


def _translate(e: Exception, directory_url: str) -> AcmeError | None:
    """The library's exceptions as coded errors with a fix a technician can act on
    (most specific first: SSLError is a ConnectionError, ValidationError an acme Error)."""
    if isinstance(e, requests.exceptions.SSLError):
        return AcmeError(
            "certs.acme-tls",
            f"the ACME server {directory_url} has a certificate this device does not trust: {e}",
            "for a private CA set [certs] acme_ca_bundle to its root (PEM)",
        )
    if isinstance(e, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return AcmeError(
            "certs.acme-unreachable",
            f"cannot reach the ACME server {directory_url}",
            "check [certs] acme_directory and the network; the kiosk retries with backoff",
        )
    if isinstance(e, messages.Error):
        limited = e.code == "rateLimited"
        return AcmeError(
            "certs.acme-rate-limited" if limited else "certs.acme-refused",
            f"the CA refused: {e.detail or e.typ}",
            "wait for the CA's rate limit to pass (retried automatically)"
            if limited
            else "see the CA's message; check [certs] acme_directory, acme_email and name",
        )
    if isinstance(e, errors.ValidationError):
        details = [
            f"{authzr.body.identifier.value}: {ch.error.detail if ch.error else ch.status}"
            for authzr in e.failed_authzrs
            for ch in authzr.body.challenges
            if isinstance(ch.chall, challenges.DNS01)
        ]
        return AcmeError(
            "certs.acme-validation",
            "the CA could not validate the DNS-01 record: " + "; ".join(details),
            "check that the record is published where the CA looks (the _acme-challenge CNAME, "
            "the zone's NS records)",
        )
    if isinstance(e, errors.TimeoutError):
        return AcmeError(
            "certs.acme-timeout",
            "the CA did not finish the order in time",
            "retried automatically; check the CA's status page if it persists",
        )
    if isinstance(e, errors.Error | jose.errors.Error | requests.exceptions.RequestException | ValueError):
        return AcmeError("certs.acme-protocol", f"the ACME exchange failed: {e}", "check [certs] acme_directory")
    return None


# --- issuing --------------------------------------------------------------------------


@dataclass
class Issued:
    key_pem: bytes
    fullchain_pem: bytes
    bad_nonces: int = 0


def _stopped(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise CertError("certs.acme-stopped", "the kiosk is shutting down", "nothing: it retries at the next start")


def issue(config: Config, deadline_s: float = ORDER_DEADLINE_S, stop: threading.Event | None = None) -> Issued:
    """One order, start to finish (blocking); CertError on any failure, records cleaned up.

    ``stop`` (set at shutdown) ends the attempt at the next step, records still removed.
    """
    c = config.certs
    if not c.acme_directory:
        raise CertError(
            "certs.acme-config",
            "certs.mode is acme but no ACME directory is configured",
            'set [certs] acme_directory, e.g. "https://acme-v02.api.letsencrypt.org/directory"',
        )
    names = requested_names(config)
    jwk = account_key(acme_dir(config))
    net = Network(jwk, c.acme_ca_bundle)
    with _coded(c.acme_directory, net):
        directory = client.ClientV2.get_directory(c.acme_directory, net)
        acme = client.ClientV2(directory, net)
        registration = messages.NewRegistration.from_data(
            email=c.acme_email or None,
            terms_of_service_agreed=True,
            external_account_binding=_eab(config, jwk, directory),
        )
        try:
            acme.new_account(registration)
        except errors.ConflictError as e:  # the key already has an account: use it
            net.account = messages.RegistrationResource(uri=e.location, body=messages.Registration())
        cert_key = new_key()
        csr = crypto_util.make_csr(key_pem(cert_key), names)
        order = acme.new_order(csr)
        pub = publisher(config)
        published: list[dns01.Record] = []
        try:
            answers = []
            pending = [a for a in order.authorizations if a.body.status != messages.STATUS_VALID]
            for i, authzr in enumerate(pending):
                challb = _dns01(authzr)
                domain = authzr.body.identifier.value
                response, validation = challb.chall.response_and_validation(jwk)
                record = dns01.Record(
                    domain=domain,
                    name=challb.chall.validation_domain_name(domain),
                    validation=validation,
                    all_domains=",".join(name.removeprefix("*.") for name in names),
                    remaining=len(pending) - i - 1,
                )
                published.append(record)  # cleaned up even if publishing fails half-way
                pub.publish(record)
                answers.append((challb, response))
            for record in published:
                _stopped(stop)
                if not dns01.wait_visible(
                    pub.check_server(),
                    pub.check_name(record),
                    record.validation,
                    c.propagation_timeout_s,
                    sleep=stop.wait if stop is not None else time.sleep,
                ):
                    log.info("no authoritative server to check %s on; asking the CA anyway", record.name)
            _stopped(stop)
            for challb, response in answers:
                acme.answer_challenge(challb, response)
            deadline = dt.datetime.now() + dt.timedelta(seconds=deadline_s)  # the library's naive clock
            done = acme.poll_and_finalize(order, deadline)
        finally:
            for record in published:
                try:
                    pub.remove(record)
                except CertError as e:  # never hide the first failure behind a cleanup one
                    log.warning("could not remove the challenge record %s: %s", record.name, e)
    return Issued(key_pem(cert_key), done.fullchain_pem.encode(), net.bad_nonces)


def _eab(config: Config, jwk: jose.JWK, directory: messages.Directory) -> dict | None:
    """The external account binding some CAs require, from ``acme_eab_kid`` and its HMAC file."""
    c = config.certs
    required = bool(getattr(directory.meta, "external_account_required", False))
    if not c.acme_eab_kid:
        if required:
            raise CertError(
                "certs.acme-eab-required",
                f"the CA at {c.acme_directory} requires an external account binding",
                "set [certs] acme_eab_kid and acme_eab_hmac_file to the key id and HMAC key the CA gave you",
            )
        return None
    try:
        hmac_key = Path(c.acme_eab_hmac_file).read_text().strip()
    except OSError as e:
        raise CertError(
            "certs.acme-eab-key",
            f"cannot read the EAB HMAC key {c.acme_eab_hmac_file!r}: {e.strerror}",
            "set [certs] acme_eab_hmac_file to a file holding the CA's HMAC key (mode 0600)",
        ) from e
    return messages.ExternalAccountBinding.from_data(jwk.public_key(), c.acme_eab_kid, hmac_key, directory)


def _dns01(authzr: messages.AuthorizationResource) -> messages.ChallengeBody:
    for challb in authzr.body.challenges:
        if isinstance(challb.chall, challenges.DNS01):
            return challb
    raise CertError(
        "certs.acme-no-dns01",
        f"the CA offers no DNS-01 challenge for {authzr.body.identifier.value}",
        "use a CA that supports DNS-01 (every RFC 8555 CA with wildcards does)",
    )


# --- installing -----------------------------------------------------------------------


def _pending(path: str) -> Path:
    return Path(path).with_name(Path(path).name + ".new")


def install(config: Config, issued: Issued) -> CertReport:
    """Write beside the old pair, validate for this device, then rename into place."""
    cert_path, key_path = cert_paths(config)
    Path(cert_path).parent.mkdir(parents=True, exist_ok=True)
    Path(key_path).parent.mkdir(parents=True, exist_ok=True)
    new_cert, new_key_path = _pending(cert_path), _pending(key_path)
    write_private(new_key_path, issued.key_pem)
    write_public(new_cert, issued.fullchain_pem)
    report = validate(new_cert, new_key_path, device_hostname(config), roots=load_roots(config.certs.roots))
    if not report.ok:
        new_cert.unlink(missing_ok=True)
        new_key_path.unlink(missing_ok=True)
        p = report.problems[0]
        raise CertError(
            "certs.acme-bad-cert",
            f"the CA's certificate fails this device's check, so it is not used: {p.message}",
            p.fix,
        )
    os.replace(new_key_path, key_path)  # a crash here is finished by finish_interrupted()
    os.replace(new_cert, cert_path)
    report.cert_path, report.key_path = cert_path, key_path
    return report


def finish_interrupted(config: Config) -> None:
    """A crash between the two renames left the new key with the old chain: finish it."""
    cert_path, key_path = cert_paths(config)
    new_cert, new_key_path = _pending(cert_path), _pending(key_path)
    if not new_cert.exists():
        new_key_path.unlink(missing_ok=True)
        return
    if new_key_path.exists():  # nothing was renamed yet: the old pair is intact
        new_cert.unlink(missing_ok=True)
        new_key_path.unlink(missing_ok=True)
        return
    roots = load_roots(config.certs.roots)
    if validate(new_cert, key_path, device_hostname(config), roots=roots).ok:
        os.replace(new_cert, cert_path)
        log.info("finished an interrupted certificate install (%s)", cert_path)
    else:
        new_cert.unlink(missing_ok=True)
