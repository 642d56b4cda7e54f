"""Backends from the config: ``[llm] backends`` names ``[llm.backend.NAME]`` sections.

The built-in ``cpu`` backend is llama.cpp on the keys of ``[llm]`` itself (model, n_ctx,
threads), so a config written before there were several backends means what it meant.
The default (``backends = ["cpu"]``) yields the plain llama.cpp backend, unchanged; any
other list yields a FallbackBackend over the ones that could be set up (a backend that
cannot, e.g. an unreadable API key file, is reported and left out, the others serve).

``[privacy] mode = "strict"`` keeps every byte on the device: a backend whose url is
not a loopback address is not even set up (its host is never looked up: a DNS query
would already leave the device), and the cloud fallback is never built.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from kiosk.config import BackendConfig, Config
from kiosk.errors import KioskError, LLMError
from kiosk.llm.backend import LLMBackend
from kiosk.llm.http import Timeouts
from kiosk.llm.select import FallbackBackend, Member, Policy

log = logging.getLogger(__name__)


def is_loopback(url: str) -> bool:
    """Judged from the address as written, without resolving it."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def section(config: Config, name: str) -> BackendConfig:
    """A backend's section; ``cpu`` unless overridden is llama.cpp on the [llm] keys."""
    if name in config.llm.backend:
        return config.llm.backend[name]
    if name == "cpu":
        llm = config.llm
        return BackendConfig(kind="llama.cpp", model=llm.model, n_ctx=llm.n_ctx, threads=llm.threads)
    raise LLMError("llm.no-backend", f"no [llm.backend.{name}] section", f"add [llm.backend.{name}]")


def timeouts(b: BackendConfig) -> Timeouts:
    return Timeouts(b.connect_timeout_s, b.first_token_timeout_s, b.between_tokens_timeout_s)


def build_one(name: str, b: BackendConfig, config: Config) -> LLMBackend:
    """Raises KioskError (ModelError, LLMError) when this backend cannot be set up."""
    style = "chat" if b.prompt_style == "auto" else b.prompt_style
    if b.kind == "ollama":
        from kiosk.llm.ollama import OllamaBackend

        return OllamaBackend(name, b.url, b.model, style, b.n_ctx, b.keep_alive, timeouts(b))  # type: ignore[arg-type]
    if b.kind == "openai":
        from kiosk.llm.openai import OpenAIBackend

        return OpenAIBackend(name, b.url, b.model, style, b.n_ctx, b.api_key_file, timeouts(b))  # type: ignore[arg-type]
    from kiosk.llm.llama_cpp import LlamaCppBackend
    from kiosk.models import resolve_llm

    resolved = resolve_llm(b.model or config.llm.model, config.data_dir)
    backend = LlamaCppBackend(
        resolved.path,
        resolved.spec.prompt_style if b.prompt_style == "auto" else b.prompt_style,
        n_ctx=b.n_ctx,
        threads=b.threads,
        name=f"llama.cpp:{resolved.spec.name}",
    )
    backend.backend = name
    return backend


@dataclass
class Built:
    llm: LLMBackend | None
    problems: list[KioskError] = field(default_factory=list)
    cloud: LLMBackend | None = None


def strict(config: Config) -> bool:
    return config.privacy.mode == "strict"


def build(config: Config) -> Built:
    """Every configured backend that can be set up; ``llm`` is None if none can."""
    out = Built(None)
    members: list[Member] = []
    for name in config.llm.backends:
        b = section(config, name)
        if b.kind != "llama.cpp" and strict(config) and not is_loopback(b.url):
            out.problems.append(_strict_skip(name, b.url))
            continue
        try:
            backend = build_one(name, b, config)
        except KioskError as e:
            out.problems.append(e)
            log.warning("LLM backend %s unavailable: %s", name, e)
            continue
        except (ValueError, OverflowError, RuntimeError, MemoryError) as e:  # llama.cpp refusing a setting
            out.problems.append(
                LLMError("llm.load-failed", f"the model could not be loaded ({e})", "check the [llm] settings")
            )
            continue
        members.append(Member(name, backend, Policy(b.ttft_objective_ms, b.ttft_window, config.llm.backoff_s)))
    if len(members) == 1 and getattr(members[0].backend, "executor", None) is not None:
        out.llm = members[0].backend  # one llama.cpp model: the plain backend, as before
    elif members:
        out.llm = FallbackBackend(members)
    if config.llm.cloud and not strict(config):
        try:
            out.cloud = build_one(config.llm.cloud, section(config, config.llm.cloud), config)
        except KioskError as e:
            out.problems.append(e)
    return out


def _strict_skip(name: str, url: str) -> LLMError:
    return LLMError(
        "llm.strict",
        f"backend {name} ({url}) is off this device and [privacy] mode is strict: not used",
        'use a loopback address, or set [privacy] mode = "standard"',
    )
