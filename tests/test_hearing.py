"""Misheard words read as the venue's own (kiosk/knowledge/hearing.py), accents folded,
the decision's second reading, and a follow-up that changes the subject. Real WordNet, wordfreq and jellyfish; a knowledge
made here, so each case says what general behaviour it checks."""

from __future__ import annotations

import pytest

from kiosk.knowledge.decide import FEATURES, decide, load_calibration
from kiosk.knowledge.hearing import Hearing, edits, sound
from kiosk.knowledge.retrieve import Knowledge, content_words
from kiosk.knowledge.vocab import Vocabulary, fold

FACTS = [
    "Toilets. Toilets are on every floor beside the lifts.",
    "Dogs. Only assistance dogs are allowed in the building.",
    "Colour printing. Colour printing costs 25p per page.",
    "Black-and-white printing. Black and white printing costs 5p per page.",
    "Car parking. You can park in the visitor car park for £2 a day.",
    "Replacement card. A lost student card is replaced at the desk for £10.",
    "Christmas opening. We are closed over Christmas.",
    "Shops. Outlets on Needs Lane and Lees Road stay open late.",
]


@pytest.fixture(scope="module")
def hearing() -> Hearing:
    return Hearing(Vocabulary(FACTS))


def test_sound_and_edit_distance_come_from_a_general_library():
    assert sound("collar") == sound("colour")
    assert edits("quite", "quiet") == 1  # a swapped pair is one edit
    assert edits("pack", "park") == 1


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("can i bring my dug in", "dog"),  # one edit, same sound, dug is rare beside dog
        ("i lost my student cart", "card"),
        ("is there a lou", "loo"),  # an everyday word for the knowledge's "toilets"
        ("where can i pack my car", "park"),  # a common word, but far likelier here
        ("how much to print in collar", "colour"),  # two edits, one sound
    ],
)
def test_a_misheard_word_is_read_as_the_venue_word(hearing, heard, meant):
    text, fixed = hearing.correct(heard)
    assert meant in fixed and meant in text.split()


def test_two_heard_words_that_make_one_venue_word_are_joined(hearing):
    text, fixed = hearing.correct("are you open at chris mass")
    assert fixed == ["christmas"] and text == "are you open at christmas"


@pytest.mark.parametrize(
    "question",
    [
        "Where are the toilets?",  # the knowledge's own words
        "What time do you shut?",  # covered through WordNet (shut = close)
        "Can I bring my bike?",  # "bring" is commoner in English than "ring" is likely here
        "Is the library in Leeds open?",  # a place is never 'corrected' into a venue word
        "What time does the shop in york shut?",
    ],
)
def test_words_that_are_what_they_seem_are_left_alone(hearing, question):
    text, fixed = hearing.correct(question)
    assert fixed == [] and text == question


def test_accents_are_folded_like_the_index_folds_them():
    assert fold("Café CRÈCHE") == "cafe creche"
    assert "cafe" in content_words("Is the Café open?")
    assert Vocabulary(["The Café is on level 1."]).cover("cafe") == {"cafe"}


def test_a_calibration_file_without_a_feature_gives_it_no_say(tmp_path):
    path = tmp_path / "decide.toml"
    path.write_text("bias = 0.5\n[weights]\nsemantic = 1.0\n", "utf-8")
    cal = load_calibration(path)
    assert len(cal.weights) == len(FEATURES) and cal.weights[0] == 1.0 and sum(cal.weights[1:]) == 0.0


@pytest.fixture(scope="module")
def small_knowledge(tmp_path_factory) -> Knowledge:
    folder = tmp_path_factory.mktemp("venue")
    (folder / "facts.md").write_text(
        "".join(f"## {f.split('. ', 1)[0]}\n{f.split('. ', 1)[1]}\n\n" for f in FACTS)
    )
    return Knowledge.open(folder, folder / "k.db")


def test_the_decision_answers_a_misheard_question_from_the_entry_meant(small_knowledge):
    d = decide(small_knowledge, "is there a lou")
    assert d.action != "refuse" and d.hits[0].entry.title == "Toilets"
    assert d.reason.startswith("read as:")


def test_the_decision_keeps_the_question_as_heard_when_it_is_already_answered(small_knowledge):
    d = decide(small_knowledge, "Where are the toilets?")
    assert d.hits[0].entry.title == "Toilets" and not d.reason


def test_a_subject_the_best_entry_does_not_cover_lowers_the_confidence(small_knowledge):
    """The same entry is found for both; the one naming another subject is less sure."""
    on = decide(small_knowledge, "How much is colour printing?")
    off = decide(small_knowledge, "How much is colour printing at the passport office?")
    assert on.hits[0].entry.title == off.hits[0].entry.title == "Colour printing"
    assert off.features["off_entry_subject"] > on.features["off_entry_subject"]
    assert off.confidence < on.confidence


def test_a_follow_up_that_changes_the_subject_gets_the_entry_for_its_new_words(small_knowledge):
    first = decide(small_knowledge, "How much is black and white printing?")
    assert first.hits[0].entry.title == "Black-and-white printing"
    then = decide(small_knowledge, "And colour?", previous="How much is black and white printing?")
    assert then.action != "refuse" and then.hits[0].entry.title == "Colour printing"


def test_a_word_that_sounds_the_same_wins_over_one_that_only_looks_alike():
    """ "shot" is one letter from the venue's own "short" and from "shut" (an everyday word
    for its "close"), but sounds only like "shut" (a campsite's "when does the office shot")."""
    h = Hearing(Vocabulary(["Reception closes at 5pm.", "Short stays of one night cost £25."]))
    text, fixed = h.correct("when does the office shot")
    assert fixed == ["shut"] and text == "when does the office shut"


# --- how words sound (kiosk/knowledge/sounds.py, the real eSpeak NG library) ------------


def test_sounds_come_from_espeak_ng_in_a_british_accent():
    from kiosk.knowledge.sounds import phonemes

    assert phonemes("flew") == phonemes("flu")  # homophones, spelt apart
    assert phonemes("spar") == phonemes("spa")  # non-rhotic: the r is not said
    assert phonemes("seels") == phonemes("seals")  # a non-word is said by rule
    assert phonemes("dock") != phonemes("dog")


def test_a_voicing_slip_or_a_vowel_is_nearer_than_another_consonant():
    from kiosk.knowledge.sounds import distance
    from kiosk.knowledge.sounds import phonemes as ph

    assert distance(ph("dock"), ph("dog")) < distance(ph("dock"), ph("doll"))
    assert distance(ph("buzz"), ph("bus")) == 0.5
    assert distance(ph("wedding"), ph("heading")) >= 1.0
    assert distance(ph("law"), ph("low")) > 1.0


SPOKEN = [
    "Sharks. The sharks are fed at 14:00 in the Ocean Tunnel.",
    "Spa. A 50-minute massage in the spa costs £55.",
    "Yoga. Yoga sessions run in the studio at 08:00 on weekdays.",
    "Changing. Baby changing is on every floor.",
    "Buses. The number 12 bus stops outside the main gate.",
]


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("when can we watch the shocks being fed", "sharks"),  # "shocks" means several venue words
        ("how much is a massage in your spar", "spa"),  # said the same, spelt apart
        ("do you run any yoger", "yoga"),  # a non-word that reads as a name, said the same
        ("which buzz goes to you", "bus"),  # voicing: z for s
    ],
)
def test_a_word_heard_for_one_that_sounds_alike_is_read_as_the_venue_word(heard, meant):
    h = Hearing(Vocabulary(SPOKEN))
    text, fixed = h.correct(heard)
    assert meant in fixed and meant in text.split()


@pytest.mark.parametrize(
    "question",
    [
        "can we hold our wedding in the studio",  # a whole other consonant: not "heading"
        "how much is it to see santa",  # a name (WordNet's Santa is a person): homophones only, not "centre"
        "is the number 12 bus late",
    ],
)
def test_a_word_said_unlike_any_venue_word_is_left_alone(question):
    h = Hearing(Vocabulary([*SPOKEN, "Headings. Each heading in the centre guide is a floor."]))
    text, fixed = h.correct(question)
    assert fixed == [] and text == question
