"""The fact check on LLM sentences: what passes, what is held back, and why."""

from __future__ import annotations

from kiosk.knowledge.grounding import SentenceChecker, social_reply
from kiosk.knowledge.index import Entry

DOGS = Entry(1, "Dogs and pets", "Only assistance dogs are allowed inside the library.", "a.md")
CAFE = Entry(2, "Cafe", "The Page Turner cafe on the ground floor is open from 10am to 4pm.", "a.md")


def checker(top: Entry, question: str) -> SentenceChecker:
    return SentenceChecker(top, [top], question, "Riverside Public Library")


def test_faithful_sentence_passes():
    assert checker(CAFE, "When is the cafe open?").check("The cafe is open from 10am to 4pm.").ok


def test_invented_number_is_held_back():
    v = checker(CAFE, "When is the cafe open?").check("The cafe is open from 9am to 6pm.")
    assert not v.ok and "number" in v.reason


def test_invented_name_and_words_are_held_back():
    assert not checker(CAFE, "Is there a cafe?").check("Yes, the Starbucks is open.").ok
    v = checker(CAFE, "Is there a cafe?").check("Yes, the cafe serves delicious pizza.")
    assert not v.ok and "pizza" in v.reason


def test_yes_against_a_restrictive_fact_is_held_back():
    c = checker(DOGS, "Can I bring my dog?")
    assert not c.check("Yes, you can bring your dog.").ok
    assert c.check("Only assistance dogs are allowed inside.").ok


def test_prompt_leak_is_held_back():
    assert not checker(CAFE, "cafe?").check("Visitor: what about tea?").ok


def test_streaming_releases_whole_sentences_only():
    c = checker(CAFE, "When is the cafe open?")
    pieces = ["The", " cafe", " is", " open", " from", " 10am", " to", " 4pm", "."]
    assert [v for p in pieces for v in c.feed(p)] == []  # a full stop may still be "4.30"
    released = c.feed(" It")
    assert [v.ok for v in released] == [True]
    assert released[0].pieces == pieces
    assert c.feed(" is") == []


def test_missing_key_figures_bring_the_fact():
    c = checker(CAFE, "When is the cafe open?")
    for p in ["The", " cafe", " is", " on", " the", " ground", " floor", ".", " "]:
        c.feed(p)
    c.flush()
    assert c.finish().missing_fact == CAFE.text


def test_social_replies_need_no_facts():
    assert "Riverside" in social_reply("Hello!", "Riverside")
    assert social_reply("thanks", "X")
    assert social_reply("When do you open?", "X") is None


def test_the_visitors_own_figures_are_not_evidence():
    # The question's "9am", "50 pence" or "Sunday" must not confirm a "yes".
    assert not checker(CAFE, "Is the cafe open at 9am?").check("Yes, the cafe is open at 9am.").ok
    assert not checker(CAFE, "Is the cafe open on Sunday?").check("Yes, the cafe is open.").ok
    assert checker(CAFE, "Is there a cafe?").check("Yes, the cafe is on the ground floor.").ok


def test_the_check_splits_sentences_as_speech_does():
    # "9 a.m. on Mondays" is one sentence for the check and for the speaker (kiosk/text.py).
    entry = Entry(3, "Opening hours", "We open at 9 a.m. on Mondays.", "a.md")
    c = checker(entry, "When do you open on Mondays?")
    pieces = ["We", " open", " at", " 9", " a.m.", " on", " Mondays.", " We"]
    released = [v for p in pieces for v in c.feed(p)]
    assert [v.sentence for v in released] == ["We open at 9 a.m. on Mondays."]
