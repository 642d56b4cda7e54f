"""Configuration: TOML in nested sections, every key defaulted and documented.

Strict by design: an unknown key or a wrong type is an error naming the key, because a
typo in a kiosk's config otherwise silently falls back to a default nobody chose. The
documentation of each key lives here (``doc=``) and README's table is checked against
it by a test, so the two cannot drift.

Look-up order: ``--config FILE``, else /etc/kiosk/kiosk.toml, else
~/.config/kiosk/kiosk.toml, else the built-in defaults.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kiosk import paths
from kiosk.errors import ConfigError

MAX_STRING = 4096
"""Longest string any key may hold: paths, names and greetings fit; a pasted file does not."""
MAX_ITEMS = 32
"""Most items in a list key (wake phrases, recipients)."""
MAX_FILE_BYTES = 1 << 20
"""Largest config file read: a real one is a few kilobytes."""


def opt(default: Any, doc: str, low: float | None = None, high: float | None = None) -> Any:
    """A config field with its default, its one-line documentation and, for a number, the
    range the kiosk can live with (checked at load, named in the error and the README)."""
    meta: dict[str, Any] = {"doc": doc}
    if low is not None and high is not None:
        meta["range"] = (low, high)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class VenueConfig:
    name: str = opt("Riverside Public Library", "Venue name shown on the attract screen and used in answers.")
    greeting: str = opt("Hello! I can answer questions about this venue.", "Greeting on the attract screen.")
    staff_pointer: str = opt(
        "Please ask a member of staff at the front desk.",
        "Where refusals send the visitor when the knowledge has no answer.",
    )


@dataclass
class KnowledgeConfig:
    path: str = opt(
        str(paths.DEMO_KNOWLEDGE_DIR), "Folder of Markdown files; each '## ' heading is one entry."
    )
    instant_threshold: float = opt(
        0.80, "Confidence (0-1, calibrated) at or above which the entry itself is the answer, without the LLM.",
        0.0,
        1.0,
    )
    refuse_threshold: float = opt(
        0.50,
        "Confidence (0-1, calibrated) below which the question is refused as not covered by the knowledge.",
        0.0,
        1.0,
    )
    top_k: int = opt(3, "How many entries go into the LLM prompt.", 1, 20)
    embeddings: bool = opt(
        True, "Use the MiniLM sentence encoder beside full-text search (false: lexical only)."
    )
    rerank_model: str = opt(
        "gemma3-270m",
        "Small LLM (manifest name or .gguf) that reorders uncertain retrievals by question likelihood; '' turns it off.",
    )
    max_file_kb: int = opt(
        1024, "Largest knowledge file read, in KiB; a bigger one is skipped with a staff notice.", 1, 65536
    )
    max_folder_mb: int = opt(
        32, "Most knowledge read from the whole folder, in MiB; files past it are skipped.", 1, 1024
    )
    max_files: int = opt(5000, "Most .md files read from the knowledge folder.", 1, 100_000)


BACKEND_KINDS = ("ollama", "openai", "llama.cpp")
PRIVACY_MODES = ("strict", "standard")


@dataclass
class BackendConfig:
    """One ``[llm.backend.NAME]`` section (see kiosk/llm/factory.py)."""

    kind: str = opt("ollama", "ollama (hailo-ollama or Ollama), openai (any OpenAI-compatible server) or llama.cpp.")
    url: str = opt("", "Server address, e.g. http://127.0.0.1:8000 (hailo-ollama); not used by llama.cpp.")
    model: str = opt("", "Model name on the server; for llama.cpp a manifest name or .gguf path.")
    prompt_style: str = opt(
        "auto", "chat (the server applies the model's template), completion (raw prompt) or auto (chat; llama.cpp: the manifest's)."
    )
    n_ctx: int = opt(2048, "Context window in tokens the prompt is fitted to (2048 on the AI HAT+ 2).")
    api_key_file: str = opt("", "File holding the API key (openai kind), sent as a Bearer token.")
    keep_alive: str = opt("30m", "Ollama keep_alive: how long the server keeps the model loaded.")
    connect_timeout_s: float = opt(2.0, "Seconds to connect before the backend counts as down.")
    first_token_timeout_s: float = opt(15.0, "Seconds from the request to the first token.")
    between_tokens_timeout_s: float = opt(5.0, "Seconds allowed between two tokens.")
    ttft_objective_ms: float = opt(0.0, "Time-to-first-token objective: p95 above it skips the backend (0: none).")
    ttft_window: int = opt(10, "Answers the TTFT p95 is computed over.")
    threads: int = opt(0, "CPU threads (llama.cpp kind; 0: all cores).")


@dataclass
class LLMConfig:
    model: str = opt("gemma3-270m", "Model name from models/manifest.toml, or a path to a .gguf file.")
    max_tokens: int = opt(96, "Most tokens one answer may have.", 1, 4096)
    budget_s: float = opt(20.0, "Wall-clock seconds one answer may take before it is cut off.", 0.5, 600.0)
    n_ctx: int = opt(2048, "Context window in tokens; older turns are dropped to fit.", 256, 32768)
    threads: int = opt(0, "CPU threads for llama.cpp (0: all cores).", 0, 64)
    temperature: float = opt(0.2, "Sampling temperature; low keeps answers close to the facts.", 0.0, 2.0)
    seed: int = opt(7, "Sampling seed, for repeatable answers.", 0, 2147483647)
    backends: list[str] = opt(
        ["cpu"], "Backends tried in order: [llm.backend.NAME] names; cpu is built in from the keys above."
    )
    backoff_s: float = opt(60.0, "Seconds a backend that is down, failing or too slow is skipped.", 0.0, 86400.0)
    cloud: str = opt(
        "", "Opt-in online fallback: a [llm.backend.NAME] used when the local answer was refused or fell back."
    )
    backend: dict[str, BackendConfig] = opt({}, "The [llm.backend.NAME] sections.")


@dataclass
class PrivacyConfig:
    mode: str = opt(
        "standard", "strict: nothing leaves the device (no cloud, no backend off this machine); standard."
    )


@dataclass
class SessionConfig:
    idle_reset_s: float = opt(
        45.0, "Seconds without input before the screen and the context are wiped.", 1.0, 86400.0
    )
    idle_warning_s: float = opt(
        10.0,
        "Seconds before the idle reset that 'Still there? Press any key' is shown (at most a third).",
        0.0,
        3600.0,
    )
    max_question_chars: int = opt(
        500, "Longest question accepted; longer input is refused with a message.", 1, 10000
    )
    max_turns: int = opt(50, "Turns kept per conversation; the oldest are dropped first.", 1, 1000)


@dataclass
class DataConfig:
    dir: str = opt("", "Writable data folder (index, logs, outbox). Empty: ~/.local/share/kiosk.")


WakeEngine = Literal["auto", "vosk", "pocketsphinx"]
SttEngine = Literal["auto", "vosk", "whisper", "pocketsphinx"]
TtsEngine = Literal["auto", "piper", "espeak-ng"]


@dataclass
class SpeechConfig:
    """The voice chain. Its timing defaults are the ones speech/vad.py and the front end
    use when built without a config (they read them from here: one source)."""

    enabled: bool = opt(True, "Listen and speak when audio devices exist (typed input always works).")
    wake_phrases: list[str] = opt(["hello kiosk"], "Wake phrases; any of them starts listening.")
    wake_engine: WakeEngine = opt("auto", "Wake-word engine: auto, vosk or pocketsphinx.")
    wake_sensitivity: float = opt(0.5, "0..1; higher wakes more easily (and falsely).", 0.0, 1.0)
    refractory_s: float = opt(2.0, "Seconds after a wake during which another wake is ignored.", 0.0, 60.0)
    stt_engine: SttEngine = opt("auto", "Speech-to-text engine: auto, vosk, whisper or pocketsphinx.")
    vosk_model: str = opt("", "Folder of a Vosk model (empty: the one from models/manifest.toml, if any).")
    tts_engine: TtsEngine = opt("auto", "Voice: auto, piper or espeak-ng.")
    piper_voice: str = opt("", "Path to a Piper .onnx voice (empty: the installed default, if any).")
    volume: float = opt(1.0, "Speech volume 0..1.", 0.0, 1.0)
    mute: bool = opt(False, "Show answers without speaking them.")
    input_device: str = opt("", "Microphone by name or index (empty: the system default).")
    output_device: str = opt("", "Speaker by name or index (empty: the system default).")
    speech_start_s: float = opt(0.3, "Seconds of speech before an utterance counts as started.", 0.0, 10.0)
    trailing_silence_s: float = opt(0.7, "Seconds of silence that end an utterance.", 0.0, 10.0)
    max_utterance_s: float = opt(15.0, "Longest utterance before listening stops anyway.", 0.0, 120.0)
    no_speech_s: float = opt(5.0, "Seconds of listening without speech before giving up.", 0.0, 120.0)
    follow_up_s: float = opt(
        6.0, "Seconds to listen for a follow-up after an answer, without the wake phrase.", 0.0, 120.0
    )
    push_to_talk_key: str = opt("f5", "Key that starts listening without the wake phrase.")


@dataclass
class LogConfig:
    enabled: bool = opt(True, "Keep a sealed log of each turn (needs at least one recipient).")
    path: str = opt("", "Log database (empty: <data dir>/interactions.db).")
    recipients: list[str] = opt([], "Public key files (X25519) that may read the log.")
    retention_days: int = opt(30, "Days a record is kept before its data key is destroyed.", 1, 3650)
    redact_pii: bool = opt(True, "Mask e-mail addresses, phone and card numbers before sealing.")


@dataclass
class WebConfig:
    enabled: bool = opt(False, "Serve the web UI from the kiosk process too.")
    device_id: str = opt("kiosk-001", "This device's label in <device_id>.<fleet_domain>.")
    fleet_domain: str = opt("fleet.test", "Fleet domain the certificate covers.")
    host: str = opt("0.0.0.0", "Address to listen on.")
    port: int = opt(8443, "HTTPS port (443 on the image).", 0, 65535)
    cert: str = opt(
        "", "Certificate chain (PEM); [certs] mode acme and empty: <data dir>/certs/fullchain.pem."
    )
    key: str = opt("", "Private key (PEM); [certs] mode acme and empty: <data dir>/certs/privkey.pem.")
    max_question_bytes: int = opt(4096, "Largest request body for a question.", 256, 65536)
    rate_per_minute: int = opt(20, "Questions per minute per client.", 1, 600)
    max_connections: int = opt(
        16, "Most simultaneous connections from one client address (an IPv6 /64 counts as one).", 1, 256
    )
    max_connections_total: int = opt(
        256,
        "Most simultaneous connections from all clients together (each costs memory and a file).",
        1,
        1000,
    )
    max_websockets: int = opt(4, "Most open websockets (page tabs) from one client address.", 1, 64)
    max_sessions: int = opt(
        256, "Most web visitors remembered at once; the longest-idle one is forgotten first.", 1, 10_000
    )
    sessions_per_client: int = opt(8, "Most remembered web visitors from one client address.", 1, 256)
    idle_timeout_s: float = opt(
        10.0,
        "Seconds a connection may sit idle, or take to send its headers or body, before it is closed.",
        1.0,
        300.0,
    )


@dataclass
class TelemetryConfig:
    enabled: bool = opt(True, "Collect health and usage metrics (never any visitor's words) into the outbox.")
    endpoint: str = opt(
        "", "OTLP/HTTP collector base URL, e.g. https://otel.example:4318 (empty: no network, outbox only)."
    )
    token_file: str = opt(
        "", "File holding a bearer token sent as 'Authorization: Bearer ...' (empty: none)."
    )
    ca_bundle: str = opt("", "PEM CA bundle that verifies the collector (empty: the system trust store).")
    client_cert: str = opt("", "Client certificate (PEM) for mTLS to the collector (empty: none).")
    client_key: str = opt("", "Private key (PEM) of the client certificate.")
    interval_s: float = opt(
        60.0, "Seconds per export interval: one batch is written to the outbox each time.", 0.05, 86400.0
    )
    timeout_s: float = opt(
        10.0, "Seconds one send may take before it counts as failed and is retried.", 0.05, 600.0
    )
    compression: str = opt("gzip", "Request body compression: gzip or none.")
    max_outbox_mb: float = opt(
        20.0, "Largest outbox size; the oldest batches are dropped (and counted) beyond it.", 0.01, 4096.0
    )
    max_age_days: float = opt(
        14.0, "Batches older than this are dropped (and counted) unsent.", 0.0001, 3650.0
    )
    fleet: str = opt("", "Fleet label sent as the resource attribute kiosk.fleet.")
    site: str = opt("", "Site label sent as the resource attribute kiosk.site.")


@dataclass
class CertsConfig:
    mode: str = opt(
        "files", "files: [web] cert/key are copied onto the device; acme: the kiosk gets and renews them."
    )
    name: str = opt(
        "device", "Name to request: device (<device_id>.<fleet_domain>) or wildcard (*.<fleet_domain>)."
    )
    acme_directory: str = opt("", "ACME directory URL of the CA (Let's Encrypt, step-ca, ...).")
    acme_email: str = opt("", "Contact e-mail for the ACME account (empty: none).")
    acme_ca_bundle: str = opt("", "PEM bundle trusted for the ACME server's own HTTPS (empty: the system's).")
    acme_eab_kid: str = opt(
        "", "External account binding key id, for CAs that require one (ZeroSSL, Google, step-ca)."
    )
    acme_eab_hmac_file: str = opt(
        "", "File holding the external account binding HMAC key (base64url, mode 0600)."
    )
    roots: str = opt(
        "", "Extra trusted roots (PEM) for the chain check, e.g. a private CA's (empty: the system's)."
    )
    dns: str = opt("rfc2136", "How the DNS-01 TXT record is set: rfc2136 (dynamic update with TSIG) or hook.")
    rfc2136_server: str = opt("", "DNS server (name or address) that takes the dynamic updates.")
    rfc2136_port: int = opt(53, "Port of the rfc2136 server.", 1, 65535)
    rfc2136_tsig_name: str = opt("", "TSIG key name.")
    rfc2136_algorithm: str = opt("hmac-sha256", "TSIG algorithm (hmac-sha256, hmac-sha512, ...).")
    rfc2136_secret_file: str = opt("", "File holding the base64 TSIG secret (mode 0600).")
    rfc2136_name: str = opt(
        "", "Record to update (empty: _acme-challenge.<name>, following a CNAME the server answers)."
    )
    auth_hook: str = opt("", "certbot-style command that publishes CERTBOT_VALIDATION for CERTBOT_DOMAIN.")
    cleanup_hook: str = opt("", "certbot-style command that removes the record again.")
    check_server: str = opt(
        "", "host[:port] of the authoritative DNS server polled for propagation (hook mode)."
    )
    propagation_timeout_s: float = opt(
        120.0, "Longest wait for the TXT record to show on the authoritative server.", 0.0, 3600.0
    )
    renew_before_days: float = opt(
        0.0,
        "Renew this many days before expiry (0: a third of the lifetime; at most half of it).",
        0.0,
        3650.0,
    )
    check_hours: float = opt(6.0, "Hours between renewal checks while the kiosk runs.", 0.01, 720.0)


@dataclass
class SloConfig:
    """Objectives a soak (`kiosk bench soak`) is judged against; a fleet states them once."""

    ttft_p95_ms: float = opt(
        4000.0, "Soak objective: p95 milliseconds from question to first shown word.", 0.0, 3_600_000.0
    )
    itl_p95_ms: float = opt(
        250.0, "Soak objective: p95 milliseconds between tokens (first 64 tokens).", 0.0, 3_600_000.0
    )
    e2e_p95_ms: float = opt(
        15000.0, "Soak objective: p95 milliseconds from question in to answer done.", 0.0, 3_600_000.0
    )
    max_temp_c: float = opt(80.0, "Soak objective: highest CPU temperature, degrees Celsius.", 0.0, 150.0)
    max_error_rate: float = opt(0.01, "Soak objective: largest share of questions ending in an error.", 0.0, 1.0)


@dataclass
class MaintConfig:
    key: str = opt("ctrl+f12", "Key chord that opens the maintenance PIN pad (technicians only).")
    idle_s: float = opt(
        300.0, "Seconds without input before maintenance mode (screen or web) is left.", 10.0, 86400.0
    )
    web: bool = opt(True, "Offer maintenance over HTTPS under /maint when the web UI runs.")
    pin_file: str = opt(
        "", "File holding the PIN's argon2id hash (empty: /etc/kiosk/maint-pin); `kiosk maint set-pin`."
    )
    pin_hash: str = opt("", "The PIN's argon2id hash, for provisioning; used when pin_file does not exist.")


@dataclass
class Config:
    venue: VenueConfig = field(default_factory=VenueConfig)
    knowledge: KnowledgeConfig = field(default_factory=KnowledgeConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    data: DataConfig = field(default_factory=DataConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    log: LogConfig = field(default_factory=LogConfig)
    web: WebConfig = field(default_factory=WebConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    certs: CertsConfig = field(default_factory=CertsConfig)
    slo: SloConfig = field(default_factory=SloConfig)
    maint: MaintConfig = field(default_factory=MaintConfig)
    source: str = field(default="built-in defaults", metadata={"internal": True})
    problems: list[ConfigError] = field(default_factory=list, metadata={"internal": True})
    """Keys skipped by a lenient load (see from_mapping), for the staff notice and doctor."""

    @property
    def data_dir(self) -> Path:
        return Path(self.data.dir).expanduser() if self.data.dir else paths.default_data_dir()


def sections() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config) if not f.metadata.get("internal")}


def documented_keys() -> list[tuple[str, Any, str]]:
    """(dotted key, default, doc) for every key: the source of README's table."""
    out = []
    defaults = Config()
    for sec_name, sec_cls in sections().items():
        for f in dataclasses.fields(sec_cls):
            if isinstance(getattr(getattr(defaults, sec_name), f.name), dict):
                for sub in dataclasses.fields(BackendConfig):  # a table of sections
                    out.append((f"{sec_name}.{f.name}.NAME.{sub.name}", sub.default, sub.metadata["doc"]))
                continue
            doc = f.metadata["doc"]
            bounds = value_range(f)
            if bounds is not None:
                doc += f" Range {bounds[0]}..{bounds[1]}."
            out.append((f"{sec_name}.{f.name}", getattr(getattr(defaults, sec_name), f.name), doc))
    return out


def _check_type(key: str, hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is dict:
        _, item = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError("config.type", f"{key} must be a table of [{key}.NAME] sections", "")
        return {str(k): _check_type(f"{key}.{k}", item, v) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError("config.type", f"[{key}] must be a section, got {value!r}", f"write [{key}]")
        hints = typing.get_type_hints(hint)
        sec = hint()
        for k, v in value.items():
            if k not in hints:
                raise ConfigError(
                    "config.unknown-key", f"unknown key {key}.{k}", f"known keys in [{key}]: {', '.join(hints)}"
                )
            setattr(sec, k, _check_type(f"{key}.{k}", hints[k], v))
        return sec
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(
                "config.choice",
                f"{key} must be one of {', '.join(map(str, choices))}, got {value!r}",
                f"set {key} to one of: {', '.join(map(str, choices))}",
            )
        return value
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError("config.type", f"{key} must be a list, got {value!r}", f"write {key} = [ ... ]")
        return [_check_type(f"{key}[{i}]", item, v) for i, v in enumerate(value)]
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise ConfigError(
            "config.type",
            f"{key} must be {_type_name(hint)}, got {value!r}",
            f"set {key} to {_type_name(hint)} in the config file",
        )
    return value


def _type_name(hint: Any) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )


def from_mapping(data: dict[str, Any], source: str = "<mapping>", strict: bool = True) -> Config:
    """Build a Config; ``strict=False`` skips bad keys (keeping their defaults) and lists them
    in ``problems`` instead of raising: the running kiosk keeps serving its venue on a
    config with a typo, and says so to staff, rather than going dark."""
    cfg = Config(source=source)
    known = sections()
    deferred: list[tuple[Any, str, Any, Any]] = []

    def problem(e: ConfigError) -> None:
        if strict:
            raise e
        cfg.problems.append(e)

    for sec_name, values in data.items():
        if sec_name not in known:
            problem(
                ConfigError(
                    "config.unknown-key",
                    f"unknown section [{sec_name}] in {source}",
                    f"use one of: {', '.join(known)}",
                )
            )
            continue
        if not isinstance(values, dict):
            problem(ConfigError("config.type", f"{sec_name} must be a [section] in {source}", ""))
            continue
        hints = typing.get_type_hints(known[sec_name])
        sec = getattr(cfg, sec_name)
        for key, value in values.items():
            if key not in hints:
                problem(
                    ConfigError(
                        "config.unknown-key",
                        f"unknown key {sec_name}.{key} in {source}",
                        f"known keys in [{sec_name}]: {', '.join(hints)}",
                    )
                )
                continue
            previous = getattr(sec, key)
            try:
                checked = _check_type(f"{sec_name}.{key}", hints[key], value)
            except ConfigError as e:
                problem(e)
                continue
            setattr(sec, key, checked)
            if not strict:  # judge each key on its own, so a bad one can be left out
                try:
                    _check_ranges(cfg)
                except ConfigError:
                    # It may depend on a key further down ([llm] backends names a
                    # [llm.backend.NAME] section read after it): judged again at the end.
                    setattr(sec, key, previous)
                    deferred.append((sec, key, previous, checked))
    for sec, key, previous, value in deferred:
        setattr(sec, key, value)
        try:
            _check_ranges(cfg)
        except ConfigError as e:
            setattr(sec, key, previous)
            problem(e)
    _check_ranges(cfg)  # strict: the whole file at once (keys may depend on each other)
    return cfg


def _check_finite(cfg: Config) -> None:
    """TOML allows nan and inf; a nan idle timeout would never wipe a visitor's context."""
    for sec_name in sections():
        sec = getattr(cfg, sec_name)
        for f in dataclasses.fields(sec):
            value = getattr(sec, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(
                    "config.range",
                    f"{sec_name}.{f.name} must be a finite number, got {value}",
                    f"set {sec_name}.{f.name} to a number",
                )


def _check_between(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        shown = f"{value}" if len(f"{value}") <= 40 else f"{str(value)[:20]}... ({len(str(value))} digits)"
        raise ConfigError(
            "config.range",
            f"{key} must be between {low} and {high}, got {shown}",
            f"set {key} within {low}..{high}",
        )


def _check_backends(cfg: Config) -> None:
    llm = cfg.llm
    names = [*llm.backends, *([llm.cloud] if llm.cloud else [])]
    if not llm.backends:
        raise ConfigError("config.range", "llm.backends is empty", 'set llm.backends = ["cpu"]')
    for name in names:
        if name != "cpu" and name not in llm.backend:
            raise ConfigError(
                "config.range", f"llm backend {name!r} has no [llm.backend.{name}] section", f"add [llm.backend.{name}]"
            )
    if llm.cloud and llm.cloud in llm.backends:
        raise ConfigError(
            "config.range", f"llm.cloud {llm.cloud!r} is also in llm.backends", "the cloud is only a fallback"
        )
    for name, b in llm.backend.items():
        key = f"llm.backend.{name}"
        if b.kind not in BACKEND_KINDS:
            raise ConfigError("config.range", f"{key}.kind must be one of {', '.join(BACKEND_KINDS)}", "")
        if b.prompt_style not in ("chat", "completion", "auto"):
            raise ConfigError("config.range", f"{key}.prompt_style must be chat or completion", "")
        if b.kind != "llama.cpp" and not b.url.startswith(("http://", "https://")):
            raise ConfigError("config.range", f"{key}.url must start with http:// or https://", f"set {key}.url")
        for t in ("connect_timeout_s", "first_token_timeout_s", "between_tokens_timeout_s", "n_ctx", "ttft_window"):
            value = getattr(b, t)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError("config.range", f"{key}.{t} must be above 0, got {value}", "")
        if not (math.isfinite(b.ttft_objective_ms) and b.ttft_objective_ms >= 0):
            raise ConfigError("config.range", f"{key}.ttft_objective_ms must be 0 or more", "")
    if cfg.privacy.mode not in PRIVACY_MODES:
        raise ConfigError(
            "config.range", f"privacy.mode must be one of {', '.join(PRIVACY_MODES)}", 'set privacy.mode = "strict"'
        )


def value_range(f: dataclasses.Field) -> tuple[float, float] | None:
    """The (low, high) a number key must lie in, from its ``opt`` declaration."""
    return f.metadata.get("range")


def _check_sizes(key: str, value: Any) -> None:
    """Strings and lists are bounded too: a 20 MB string is a mistake, never a setting."""
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise ConfigError(
            "config.range",
            f"{key} is {len(value):,} characters long; the most a key may hold is {MAX_STRING:,}",
            f"shorten {key}",
        )
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            raise ConfigError(
                "config.range",
                f"{key} has {len(value)} items; the most a list may hold is {MAX_ITEMS}",
                f"shorten {key}",
            )
        for i, item in enumerate(value):
            _check_sizes(f"{key}[{i}]", item)


def _check_ranges(cfg: Config) -> None:
    _check_finite(cfg)
    _check_backends(cfg)
    for sec_name in sections():
        sec = getattr(cfg, sec_name)
        for f in dataclasses.fields(sec):
            key, value = f"{sec_name}.{f.name}", getattr(sec, f.name)
            _check_sizes(key, value)
            bounds = value_range(f)
            if bounds is not None:
                _check_between(key, value, *bounds)
    _check_telemetry(cfg)
    for key, allowed in (
        ("mode", ("files", "acme")),
        ("name", ("device", "wildcard")),
        ("dns", ("rfc2136", "hook")),
    ):
        if getattr(cfg.certs, key) not in allowed:
            raise ConfigError(
                "config.range",
                f"certs.{key} must be one of {', '.join(allowed)}, got {getattr(cfg.certs, key)!r}",
                f"set certs.{key} to {' or '.join(allowed)}",
            )
    if cfg.llm.max_tokens * 2 > cfg.llm.n_ctx:
        raise ConfigError(
            "config.range",
            f"llm.max_tokens ({cfg.llm.max_tokens}) leaves too little of llm.n_ctx ({cfg.llm.n_ctx})",
            "lower llm.max_tokens or raise llm.n_ctx",
        )
    for small, big in (
        ("max_connections", "max_connections_total"),
        ("sessions_per_client", "max_sessions"),
    ):
        if getattr(cfg.web, small) > getattr(cfg.web, big):
            raise ConfigError(
                "config.range",
                f"web.{small} ({getattr(cfg.web, small)}) is larger than web.{big} ({getattr(cfg.web, big)})",
                f"lower web.{small} or raise web.{big}",
            )
    if not 0 <= cfg.knowledge.refuse_threshold <= cfg.knowledge.instant_threshold <= 1:
        raise ConfigError(
            "config.range",
            "knowledge thresholds must satisfy 0 <= refuse_threshold <= instant_threshold <= 1",
            "fix knowledge.refuse_threshold / knowledge.instant_threshold",
        )


def _check_telemetry(cfg: Config) -> None:
    t = cfg.telemetry
    if t.compression not in ("gzip", "none"):
        raise ConfigError(
            "config.range",
            f"telemetry.compression must be gzip or none, got {t.compression!r}",
            'set telemetry.compression = "gzip" (or "none" for a receiver without gzip)',
        )
    if t.endpoint and not t.endpoint.startswith(("http://", "https://")):
        raise ConfigError(
            "config.range",
            f"telemetry.endpoint must start with http:// or https://, got {t.endpoint!r}",
            'set telemetry.endpoint = "https://collector.example:4318"',
        )


def load(path: str | Path | None = None, strict: bool = True) -> Config:
    """Load the config from ``path`` or the first existing default location."""
    if path is None:
        for candidate in (paths.SYSTEM_CONFIG, paths.user_config_path()):
            if candidate.is_file():
                path = candidate
                break
        else:
            return Config()
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ConfigError(
                "config.too-large",
                f"config file {p} is larger than {MAX_FILE_BYTES:,} bytes; a kiosk config is a few kilobytes",
                "check that --config names the kiosk's TOML file",
            )
    except FileNotFoundError as e:
        raise ConfigError(
            "config.missing", f"config file {p} does not exist", "check the --config path"
        ) from e
    except OSError as e:
        raise ConfigError("config.unreadable", f"cannot read config file {p}: {e.strerror}", "") from e
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(
            "config.syntax",
            f"config file {p} is not valid TOML: {e}",
            "fix the line named, or delete the file",
        ) from e
    return from_mapping(data, source=str(p), strict=strict)
