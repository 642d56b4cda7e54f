"""Shared by the maintenance tests (imported as a plain module, like core_support)."""

from __future__ import annotations

PIN = "482915"
"""A PIN the policy accepts."""


class Clock:
    """An injected clock the test moves instead of waiting (wall or monotonic)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
