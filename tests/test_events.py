"""Every event survives the generic serialiser; unknown types and fields are errors."""

from __future__ import annotations

import dataclasses
import enum
import json
import typing

import pytest

from kiosk import events as ev
from kiosk.errors import LLMError
from kiosk.vocab import CancelReason

SAMPLES = {str: "some text", float: 1.25, int: 3, bool: True, tuple[str, ...]: ("Opening hours", "Cafe")}


def _sample(cls: type[ev.Event]) -> ev.Event:
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: _value(hints[f.name]) for f in dataclasses.fields(cls)}
    return cls(**kwargs)


def _value(hint):
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return list(hint)[-1]  # a vocabulary field: one of its words
    return SAMPLES[hint]


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


def test_a_vocabulary_field_refuses_a_word_outside_it():
    with pytest.raises(ValueError, match="budget"):
        ev.AnswerCancelled(conversation_id="c", t=0.0, reason="budget")  # never emitted: not a reason
    wire = ev.to_dict(ev.AnswerCancelled(conversation_id="c", t=0.0, reason="barge-in"))
    assert wire["reason"] == "barge-in" and type(wire["reason"]) is str  # plain text on the wire
    assert ev.from_dict(wire).reason is CancelReason.BARGE_IN
    with pytest.raises(ValueError):
        ev.from_dict({**wire, "reason": "barge_in"})


def test_fault_from_error_keeps_every_field_of_the_error():
    error = LLMError("llm.generate", "generation failed: boom", "run: kiosk doctor")
    fault = ev.Fault.from_error(error, "c1", 2.5)
    assert (fault.code, fault.message, fault.area, fault.fix) == (error.code, error.message, "llm", error.fix)
    assert (fault.conversation_id, fault.t) == ("c1", 2.5)
