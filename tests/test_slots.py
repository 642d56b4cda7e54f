"""What a question pins down (a day, an age, the kind of answer) against what an entry
says (kiosk/knowledge/slots.py), and the general word readings behind "covered"
(vocab.py: WordNet instances for place names, run-together compounds, contractions
without their apostrophe). Real WordNet and wordfreq; the cases are general behaviours,
taken from failure classes of unseen venues (issue 13)."""

from __future__ import annotations

import pytest

from kiosk.knowledge.slots import (
    age_bands,
    answer_missing,
    asked_age,
    days,
    said,
    slot_match,
    slot_mismatch,
    value_words,
)
from kiosk.knowledge.vocab import Vocabulary, compound_parts, content_tokens, is_place_or_name


def test_days_spread_ranges_and_read_weekends_and_every_day():
    assert days("Open Monday to Thursday, 9am to 5pm") == {0, 1, 2, 3}
    assert days("Mon-Fri 9am, Sat 10am") == {0, 1, 2, 3, 4}  # an abbreviation counts in a range
    assert days("Friday to Sunday") == {4, 5, 6}
    assert days("weekends and bank holidays") == {5, 6}
    assert days("We are open every day from 10am") == set(range(7))
    assert days("are you open every day", question=True) == set()  # asks no one day
    assert days("Set your sat nav to the sun terrace") == set()  # not Saturday, not Sunday


@pytest.mark.parametrize(
    ("question", "entry", "mismatch"),
    [
        ("What time do you open on a Tuesday?", "On Fridays and Saturdays we open at 9:30am.", 1.0),
        ("What time do you open on a Tuesday?", "Monday to Thursday we open at 10:00am.", 0.0),
        ("What time do you open on a Tuesday?", "We open at 10:00am.", 0.0),  # names no day: may answer
        ("Are you open at the weekend?", "On Saturdays we open at 9am.", 0.0),
        ("What's the price for my 10 year old?", "Guests aged 60 and over pay £8.10.", 1.0),
        ("I'm 67, do I get a bit off?", "Guests aged 60 and over pay £8.10.", 0.0),
        ("How much for my 2 year old?", "Children under 3 go free.", 0.0),
        ("How much for my 5 year old?", "Children under 3 go free; ages 3 to 15 pay £9.", 0.0),
        ("How much for my 16 year old?", "Child tickets (ages 3 to 15) are £9.", 1.0),
    ],
)
def test_an_entry_that_names_other_days_or_ages_does_not_answer(question, entry, mismatch):
    assert slot_mismatch(question, entry) == mismatch


def test_age_bands():
    assert set(age_bands("Adults (ages 16 to 64) £24.50; 65+ £20; under 3s free")) == {(16, 64), (65, 150), (0, 2)}


@pytest.mark.parametrize(
    ("question", "entry", "missing"),
    [
        ("How much is parking?", "The car park is behind the shop.", 1.0),
        ("How much is parking?", "Parking is free for three hours.", 0.0),
        ("What time does the cafe close?", "The cafe serves hot food and cakes.", 1.0),
        ("What time does the cafe close?", "The cafe is open 9am to 4pm.", 0.0),
        ("What's the phone number for the office?", "The office is by the gate.", 1.0),
        ("What's the phone number for the office?", "Call the office on 01632 960 111.", 0.0),
        ("Where are the toilets?", "Toilets are beside the lifts.", 0.0),  # asks none of the three
    ],
)
def test_an_entry_without_the_kind_of_answer_asked_for(question, entry, missing):
    assert answer_missing(question, entry) == missing


def test_a_place_name_is_a_wordnet_instance_not_any_location_noun():
    assert is_place_or_name("leeds") and is_place_or_name("spain")
    # location nouns that are no place of their own (they refused answerable questions)
    assert not is_place_or_name("somewhere") and not is_place_or_name("whereabouts")
    assert is_place_or_name("kelsby")  # no English word at all: a name


def test_two_everyday_words_run_together_are_read_as_their_halves():
    assert compound_parts("cashpoint") == ("cash", "point")
    assert compound_parts("pushbike") == ("push", "bike")
    assert compound_parts("kelsby") is None and compound_parts("toilet") is None
    v = Vocabulary(["There is a cash machine by the main doors.", "Bicycles can be left in the racks."])
    assert "cash" in v.cover("cashpoint")
    assert v.cover("stenmouth") == set()  # a name stays uncovered


def test_a_contraction_heard_without_its_apostrophe_is_the_contraction():
    assert content_tokens("weve got rats at seven oclock") == ["rats", "seven", "o'clock"]
    # texted so often that wordfreq counts them common, and still no topic of their own
    assert content_tokens("whats the price, shes 4 and theyre late, isnt it") == ["price", "4", "late"]
    # a word of its own that happens to be a contraction unapostrophed keeps its meaning
    assert content_tokens("i feel ill, do i need id for the shed") == ["feel", "ill", "need", "id", "shed"]
    # an apostrophe wordfreq would read as two words ("pr" + "am") makes no contraction
    assert content_tokens("can i bring the pram on the karts") == ["bring", "pram", "karts"]


def test_a_common_word_wordnet_lacks_is_a_function_word_not_a_name():
    assert content_tokens("can she go by herself without anyone, per person") == ["go", "person"]
    assert content_tokens("is the kelsby library open") == ["kelsby", "library", "open"]  # a name stays


def test_another_day_or_age_counts_against_an_entry_only_where_another_entry_names_it():
    fri_sat = "On Fridays and Saturdays we open at 9:30am."
    teens = "The late session is for jumpers aged 13 and over."
    # the venue opens two days: that entry answers "are you open on a Tuesday" (no)
    assert slot_mismatch("are you open on a tuesday", fri_sat, said([fri_sat, teens])) == 0.0
    assert slot_mismatch("are you open on a tuesday", fri_sat, said([fri_sat, "Tuesday is quiz night."])) == 1.0
    # no entry has a band for a 12-year-old: "13 and over" is the answer
    assert slot_mismatch("my son is 12 can he come to the late one", teens, said([fri_sat, teens])) == 0.0
    kids = "Children aged 5 to 12 jump in the morning session."
    assert slot_mismatch("my son is 12 can he come to the late one", teens, said([teens, kids])) == 1.0


CINEMA = {
    "The Projector Bar": "The Projector Bar is on the first floor and opens from 5:00pm to 11:00pm, "
    "Friday to Sunday.",
    "Weekend Opening Hours": "On Saturdays and Sundays the cinema opens at 9:30am.",
    "Adult Tickets": "An adult ticket costs £11.50.",
    "Child Tickets": "A ticket for a child aged 3 to 14 costs £7.50.",
    "Parking": "The Kingsmead car park is next to the cinema.",
}


@pytest.fixture(scope="module")
def cinema(tmp_path_factory):
    from kiosk.knowledge.retrieve import Knowledge

    folder = tmp_path_factory.mktemp("cinema")
    (folder / "facts.md").write_text("".join(f"## {t}\n{x}\n\n" for t, x in CINEMA.items()))
    return Knowledge.open(folder, folder / "k.db")


def test_a_follow_up_that_points_back_is_answered_from_the_previous_answers_entry(cinema):
    from kiosk.knowledge.decide import decide

    d = decide(cinema, "What time does it open at the weekend?", previous="Where's the bar?",
               previous_entry="The Projector Bar")
    assert d.action != "refuse" and d.hits[0].entry.title == "The Projector Bar"
    assert d.reason == "follow-up on the previous answer's entry"


def test_a_follow_up_that_moves_on_or_asks_what_the_entry_lacks_is_not_held_to_it(cinema):
    from kiosk.knowledge.decide import decide

    moved = decide(cinema, "And for a child?", previous="How much is an adult ticket?", previous_entry="Adult Tickets")
    assert moved.hits[0].entry.title == "Child Tickets"
    # the parking entry gives no price: "how much is it?" cannot be answered from it
    lacks = decide(cinema, "How much is it?", previous="Where can I park?", previous_entry="Parking")
    assert lacks.reason != "follow-up on the previous answer's entry"


def test_an_entry_says_the_kind_of_value_it_gives():
    """"whats ur postcode" to an address entry that shows one but never says "postcode";
    "do pensioners get a discount" to the band for those aged 65 and over."""
    address = "Address. Wexcombe City Art Gallery, 1 Pell Street, Wexcombe WX1 4GA."
    assert {"postcode", "phone"} & value_words(address) == {"postcode"}
    assert "phone" in value_words("Call the box office on 01632 960 111.")
    assert "pensioner" in value_words("Visitors aged 65 and over pay £8.")
    assert not value_words("Children under 12 go free. Open 10:00 to 17:00, £12.50.")
    v = Vocabulary([address, "Concessions. Visitors aged 65 and over pay £8.", "Children under 12 go free."])
    assert v.cover("postcode") & v.entry_lemmas[0]
    assert v.cover("pensioners") & v.entry_lemmas[1] and not v.cover("pensioners") & v.entry_lemmas[2]


def test_a_pensioner_is_of_pension_age_and_an_entry_naming_the_asked_day_or_age_matches():
    assert asked_age("do pensioners get a discount") == asked_age("any OAP discount?") == 66
    assert slot_match("im 70 do i get a discount", "Visitors aged 65 and over pay £8.") == 1.0
    assert slot_match("im 40 do i get a discount", "Visitors aged 65 and over pay £8.") == 0.0
    assert slot_match("are you open on a sunday", "Open every day from 10am.") == 1.0
    assert slot_match("are you open on a sunday", "Open Monday to Friday.") == 0.0
    assert slot_match("where are the toilets", "Open every day from 10am.") == 0.0  # pins nothing


def _hit(i: int, title: str, text: str, score: float):
    from kiosk.knowledge.index import Entry
    from kiosk.knowledge.retrieve import Hit

    return Hit(Entry(i, title, text, "x.md"), score, score, 0.0)


def test_a_near_entry_that_gives_what_is_asked_goes_before_one_that_does_not():
    from types import SimpleNamespace

    from kiosk.knowledge.decide import FIT_MARGIN, _fitting_first

    hours = _hit(0, "Arena Hours", "The trampoline arena is open from 09:00 to 19:00.", 0.70)
    price = _hit(1, "Open Jump", "A 60-minute Open Jump costs £12.50.", 0.70 - FIT_MARGIN / 2)
    far = _hit(2, "Open Jump", "A 60-minute Open Jump costs £12.50.", 0.70 - 2 * FIT_MARGIN)
    k = SimpleNamespace(said=said((hours.entry.full, price.entry.full)))
    ordered, margin = _fitting_first(k, "how much for an hour on the trampolines", [hours, price])
    assert ordered == [price, hours] and margin == 0.0
    # too far behind, or the best entry already gives a price: retrieval's order stands
    assert _fitting_first(k, "how much for an hour on the trampolines", [hours, far]) == ([hours, far], None)
    assert _fitting_first(k, "how much is an open jump", [price, hours]) == ([price, hours], None)
    # a time is asked: the hours entry gives one
    assert _fitting_first(k, "what time do you shut", [hours, price])[0][0] is hours
