"""Helpers shared by the core tests (imported as a plain module, like log_support)."""

from __future__ import annotations

from pathlib import Path

from kiosk import config as config_mod
from kiosk.assistant import Assistant


def make_config(tmp_path: Path, **sections: dict) -> config_mod.Config:
    """A config whose data lives in tmp_path, with [section] overrides."""
    data = {"data": {"dir": str(tmp_path / "data")}, "log": {"enabled": False}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config_mod.from_mapping(data, source="test")



class Recorder:
    """Collects the Assistant's events in order (the conductor's test idiom)."""

    def __init__(self, assistant: Assistant) -> None:
        self.events: list = []
        assistant.subscribe(self.events.append)

    def types(self, conversation_id: str | None = None) -> list[str]:
        return [e.type for e in self.events if conversation_id is None or e.conversation_id == conversation_id]

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]




async def wait_for(pilot, predicate, timeout: float = 60.0) -> None:
    """Let the app run until ``predicate()`` holds (a Pilot test's wait, never a fixed sleep)."""
    waited = 0.0
    while not predicate():
        await pilot.pause(0.05)
        waited += 0.05
        if waited > timeout:
            raise AssertionError("condition not reached")
