"""Every event survives the generic serialiser; unknown types and fields are errors."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest

from kiosk import events as ev

SAMPLES = {str: "some text", float: 1.25, int: 3, bool: True, tuple[str, ...]: ("Opening hours", "Cafe")}


def _sample(cls: type[ev.Event]) -> ev.Event:
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: SAMPLES[hints[f.name]] for f in dataclasses.fields(cls)}
    return cls(**kwargs)


@pytest.mark.parametrize("name", sorted(ev.event_types()))
def test_round_trip_keeps_every_field(name):
    event = _sample(ev.event_types()[name])
    wire = json.loads(ev.to_json(event))
    assert wire["type"] == name
    assert ev.from_dict(wire) == event


def test_wire_names_are_kebab_case():
    for name in ev.event_types():
        assert name == name.lower() and " " not in name and "_" not in name


def test_unknown_type_and_field_are_rejected():
    with pytest.raises(ValueError, match="unknown event type"):
        ev.from_dict({"type": "no-such-event", "conversation_id": "c", "t": 0.0})
    with pytest.raises(ValueError, match="unknown field"):
        ev.from_dict({"type": "answer-token", "conversation_id": "c", "t": 0.0, "text": "x", "extra": 1})


def test_events_are_immutable():
    token = ev.AnswerToken(conversation_id="c", t=0.0, text="hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        token.text = "changed"  # type: ignore[misc]
