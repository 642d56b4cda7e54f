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


def assert_venue_floors(knowledge, questions: dict, floors: tuple[float, float, int]) -> None:
    """A regression venue's decisions against its floors (right share of the answerable
    questions, refused share of the off-topic ones, most wrong entries stated)."""
    from kiosk.knowledge.decide import decide

    right = wrong = refused = 0
    for item in questions["answerable"]:
        d = decide(knowledge, item["q"])
        if d.action != "refuse":
            ok = any(e.lower() in d.hits[0].entry.full.lower() for e in item["expect"])
            right += ok
            wrong += not ok
    for item in questions["off_topic"]:
        d = decide(knowledge, item["q"])
        refused += d.action == "refuse"
        wrong += d.action != "refuse"
    min_right, min_refused, max_wrong = floors
    n_ans, n_off = len(questions["answerable"]), len(questions["off_topic"])
    assert right / n_ans >= min_right, f"{right}/{n_ans}"
    assert refused / n_off >= min_refused, f"{refused}/{n_off}"
    assert wrong <= max_wrong, f"{wrong} wrong entries stated"
