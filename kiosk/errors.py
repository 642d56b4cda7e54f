"""Coded errors: the stable ``code`` is what logs, telemetry and tests count.

Callers route on the class or the code, never on message text. Every error carries a
``fix``: the one thing a technician should do next, because a kiosk's error is read by
someone standing in front of it, not by the developer who wrote it.
"""

from __future__ import annotations


class KioskError(Exception):
    area = "core"

    def __init__(self, code: str, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message


class ConfigError(KioskError):
    area = "config"


class ModelError(KioskError):
    area = "model"


class LLMError(KioskError):
    area = "llm"


class KnowledgeError(KioskError):
    area = "knowledge"


class InputError(KioskError):
    """A visitor's or client's input was refused (too long, empty, malformed)."""

    area = "input"


class AudioError(KioskError):
    area = "audio"


class SpeechError(KioskError):
    area = "speech"


class LogError(KioskError):
    area = "log"


class WebError(KioskError):
    area = "web"


class CertError(KioskError):
    area = "certs"


class TelemetryError(KioskError):
    area = "telemetry"


class MaintError(KioskError):
    """Maintenance mode: the PIN, the lockout, settings written from maintenance."""

    area = "maint"
