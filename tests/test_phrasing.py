"""How the LLM may phrase a grounded answer (issue 13, class 4): each rule is tested on a
sentence a real small model said on the bench venues (assets/bench/venues), quoted as it
came. The model and the question are named beside each."""

from __future__ import annotations

import pytest

from kiosk.knowledge import phrasing
from kiosk.knowledge.grounding import SentenceChecker
from kiosk.knowledge.index import Entry

VENUE = "Fenmoor Airport"
HOURS = Entry(
    1,
    "Terminal building opening hours",
    "The terminal building opens at 4:15am and closes 30 minutes after the last scheduled arrival, "
    "normally around 11:45pm. The terminal is locked overnight and passengers cannot sleep in the building.",
    "terminal.md",
)
CHECK_IN = Entry(
    2,
    "Check-in",
    "The check-in desk is open 2 hours before departure and closes 40 minutes before departure for every flight.",
    "flights.md",
)
WIFI = Entry(
    3,
    "Free Wi-Fi",
    "Free unlimited Wi-Fi covers the whole terminal on the network called Fenmoor-Free. There is no "
    "password; you just register once with an email address.",
    "terminal.md",
)
PICK_UP = Entry(
    4,
    "Picking up passengers",
    "The free pick-up area is in the Long Stay car park, where you can wait for up to 15 minutes at no "
    "charge. You cannot wait or collect in the Drop-Off Zone; if you want to meet someone inside the "
    "terminal, use the Short Stay car park.",
    "parking.md",
)
CAFE = Entry(
    5,
    "Skylark Café",
    "The Skylark Café is landside in the Departures Hall, before security, and is open from 4:30am to "
    "7:30pm. It serves cooked breakfasts, sandwiches and barista coffee; a bacon roll is £4.50 and a "
    "regular latte is £3.20.",
    "terminal.md",
)
BAR = Entry(
    6,
    "The Runway Bar",
    "The Runway Bar is airside after security, with big windows overlooking the aircraft stands. It opens "
    "at 5am and stays open until the last departure has boarded; hot food is served until 7pm.",
    "terminal.md",
)
SHORT_STAY = Entry(
    7,
    "Short Stay car park",
    "The Short Stay car park is directly opposite the terminal, a two-minute walk. It costs £4.80 for up "
    "to 30 minutes, £7.50 for up to 1 hour and £19 for up to 24 hours.",
    "parking.md",
)


def run(checker: SentenceChecker, text: str) -> tuple[str, list]:
    """Stream ``text`` word by word through the checker, as the Assistant does: what is
    shown, and the verdicts."""
    shown, verdicts = [], []
    for piece in [" " + w for w in text.split(" ")]:
        for v in checker.feed(piece):
            verdicts.append(v)
            if not v.ok:
                return "".join(shown).strip(), verdicts
            shown += v.pieces
    for v in checker.flush():
        verdicts.append(v)
        if v.ok:
            shown += v.pieces
    return "".join(shown).strip(), verdicts


def held_back(entry: Entry, question: str, sentence: str) -> str:
    """Why the checker holds ``sentence`` back as an answer from ``entry`` ("" if it passes)."""
    v = SentenceChecker(entry, [entry], question, VENUE).check(sentence)
    return "" if v.ok else v.reason


def test_a_sentence_from_another_entry_is_not_appended():
    # SmolLM2, "What time does this desk close?" (the chosen entry: the terminal's hours).
    c = SentenceChecker(HOURS, [HOURS, CHECK_IN], "What time does this desk close?", VENUE)
    v = c.check("The check-in desk is open 2 hours before departure and closes 40 minutes before departure.")
    assert not v.ok and "another entry" in v.reason
    # The same sentence is fine when it is the chosen entry's own.
    c = SentenceChecker(CHECK_IN, [CHECK_IN, HOURS], "When does check-in close?", VENUE)
    assert c.check("The check-in desk closes 40 minutes before departure.").ok


def test_an_echo_of_the_question_is_left_out():
    # SmolLM2, "whats the wife i password" (speech for "what's the wifi password").
    c = SentenceChecker(WIFI, [WIFI], "whats the wife i password", VENUE)
    shown, verdicts = run(c, "The wife is the one who has the password.")
    assert shown == "" and "question's own words" in verdicts[0].dropped[0]


def test_a_garbled_repeat_is_left_out_and_the_rest_shown():
    # SmolLM2, "Where can I wait to pick my son up without paying?"
    c = SentenceChecker(PICK_UP, [PICK_UP], "Where can I wait to pick my son up without paying?", VENUE)
    shown, _ = run(
        c,
        "The Long Stay car park is located in the Long Stay car park, which is a short walk from the "
        "Terminal. You can wait for up to 15 minutes at no charge in the Long Stay car park.",
    )
    assert shown == "You can wait for up to 15 minutes at no charge in the Long Stay car park."


def test_back_to_back_repeats_are_said_once():
    # SmolLM2, "My suitcase never came off the belt": "... the Luggage Deck and Luggage Deck Deck Deck".
    assert phrasing.collapse_repeats("the Luggage Deck Deck Deck Deck Deck.") == "the Luggage Deck."
    assert phrasing.collapse_repeats("The gift shop is The gift shop is open.") == "The gift shop is open."
    assert phrasing.collapse_repeats("It is open from 10am to 4pm.") == "It is open from 10am to 4pm."


def test_a_model_repeating_itself_is_stopped():
    # SmolLM2, "How much is it to park at fenmoor parkway station": the same sentence five times.
    c = SentenceChecker(SHORT_STAY, [SHORT_STAY], "How much is the short stay car park?", VENUE)
    shown, verdicts = run(c, "It costs £4.80 for up to 30 minutes. It costs £4.80 for up to 30 minutes. It")
    assert shown == "It costs £4.80 for up to 30 minutes."
    assert verdicts[-1].reason == "repeats what was said"


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        # gemma3-270m, "whats the wife i password": a refusal where the knowledge answers.
        ("I don't know. Please ask a member of staff.", ""),
        # SmolLM2, "I need to change my baby's nappy, is there anywhere past security?"
        ("Yes, I'm sorry for any confusion.", ""),
        # SmolLM2, "my suitcase never came off the bell what do i do"
        ("I'm sorry for your loss.", ""),
    ],
)
def test_refusal_shaped_sentences_are_left_out(said, shown):
    c = SentenceChecker(WIFI, [WIFI], "What is the wifi password?", VENUE)
    assert run(c, said)[0] == shown


def test_an_apology_before_a_fact_is_cut_not_the_fact():
    assert phrasing.strip_opener("Sorry, there is no password.", WIFI.full) == "There is no password."
    assert phrasing.strip_opener("Unfortunately, the terminal is locked overnight.", HOURS.full) == (
        "The terminal is locked overnight."
    )
    assert phrasing.strip_opener("No, sorry, the terminal is locked overnight.", HOURS.full) == (
        "No, the terminal is locked overnight."
    )
    c = SentenceChecker(WIFI, [WIFI], "Is there a wifi password?", VENUE)
    shown, _ = run(c, "Sorry, there is no password; you just register once with an email address.")
    assert shown == "There is no password; you just register once with an email address."


def test_a_place_word_with_the_wrong_thing_is_held_back():
    # gemma3-270m, "Can I still get a hot meal airside at half eight at night?": the café was
    # said to be "landside after security"; its entry says "before security" (the bar is after).
    c = SentenceChecker(CAFE, [CAFE, BAR], "Where is the Skylark Café?", VENUE)
    v = c.check("The Skylark Café is landside after security, and is open from 4:30am to 7:30pm.")
    assert not v.ok and "after security" in v.reason
    assert c.check("The Skylark Café is landside in the Departures Hall, before security.").ok


def test_a_figure_paired_with_the_wrong_one_is_held_back():
    # The entry pairs £4.80 with 30 minutes and 1 hour with £7.50.
    c = SentenceChecker(SHORT_STAY, [SHORT_STAY], "How much is an hour in the short stay?", VENUE)
    v = c.check("It costs £4.80 for up to 1 hour.")
    assert not v.ok and "pairs" in v.reason
    assert c.check("It costs £7.50 for up to 1 hour.").ok
    days = "The museum is open Monday to Friday 9am to 5pm and Saturday 10am to 4pm."
    assert phrasing.swapped_pair("On Saturday it is open 9am to 5pm.", days)
    assert not phrasing.swapped_pair("On Saturday it is open 10am to 4pm.", days)


def test_an_answer_that_does_not_give_the_asked_time_falls_back():
    # gemma3-270m, "How early in the morning can I get into the building?": the first sentence
    # said nothing of when, and the fact was then appended after it.
    c = SentenceChecker(HOURS, [HOURS], "How early in the morning can I get into the building?", VENUE)
    shown, verdicts = run(c, "The terminal is locked overnight and passengers cannot sleep in the building.")
    assert shown == "" and verdicts[-1].reason == "the asked figure is not first"


def test_the_appended_fact_does_not_repeat_a_shown_sentence():
    c = SentenceChecker(HOURS, [HOURS], "Can I sleep in the terminal?", VENUE)
    shown, _ = run(c, "The terminal is locked overnight and passengers cannot sleep in the building.")
    assert shown
    assert c.unsaid(HOURS.text) == HOURS.text.split(". ")[0] + "."


def test_a_negation_the_entry_does_not_make_is_held_back():
    changing = Entry(
        8,
        "Baby changing",
        "Baby changing facilities are in the accessible toilets on every floor. A quiet room for feeding "
        "babies is on the first floor, beside the Textiles gallery; ask any gallery assistant for the key.",
        "facilities.md",
    )
    # SmolLM2 at the museum, "I need to change my baby's nappy".
    said = "You can't change your baby's nappy, it's a baby changing facility."
    assert "negates" in held_back(changing, "I need to change my baby's nappy", said)
    # SmolLM2 at the theme park, "is the zip line included or is that x ray": the zip wire costs extra.
    zip_wire = Entry(9, "Skyline Zip Wire", "The Skyline Zip Wire costs an extra £8 per go.", "a.md")
    c = SentenceChecker(zip_wire, [zip_wire], "is the zip line included or is that x ray", VENUE)
    assert not c.check("The zip line is included, but the go-kart circuit is not.").ok


def test_a_sentence_of_only_the_venue_and_question_words_is_left_out():
    # SmolLM2 at the museum, "What's the latest I can get in to see the galleries?"
    hours = Entry(10, "Opening hours", "Last entry to the galleries is at 4:30pm.", "a.md")
    c = SentenceChecker(
        hours, [hours], "What's the latest I can get in to see the galleries?", "Northgate Museum of Art and History"
    )
    shown, verdicts = run(c, "The latest I can get to see the galleries is the Northgate Museum of Art and History.")
    assert shown == "" and verdicts[0].dropped


def test_compose_does_not_say_yes_to_a_number_the_entry_does_not_cover():
    # The theme park's fallback for "Does my two-year-old need a ticket?" opened "Yes." (the
    # sentence says ages 3 to 11; under-3s go free).
    from kiosk.knowledge.answer import compose
    from kiosk.knowledge.vocab import Vocabulary

    text = (
        "A child day ticket (ages 3 to 11) costs £24 at the gate or £19.50 online. Children under 3 go free "
        "but must be with a paying adult."
    )
    vocab = Vocabulary([f"Child ticket. {text}"])
    assert not compose(text, "Does my two-year-old need a ticket?", vocab).startswith("Yes")


def test_compose_leads_with_the_price_a_how_much_question_asks_for():
    # The airport's fallback for "We're going away for a week, what's the cheapest way to leave
    # the car?" opened with the walk, not the price.
    from kiosk.knowledge.answer import compose
    from kiosk.knowledge.vocab import Vocabulary

    text = (
        "The Long Stay car park is a six-minute walk from the terminal along the covered walkway. Booked "
        "online in advance it costs £13 per day or £55 for one week; if you just turn up it is £16 per day."
    )
    vocab = Vocabulary([f"Long Stay car park. {text}"])
    out = compose(text, "We're going away for a week, what's the cheapest way to leave the car?", vocab)
    assert out.startswith("Booked online in advance it costs £13")


def test_the_latest_time_asked_for_comes_first():
    # gemma3-270m at the museum, "What's the latest I can get in to see the galleries?":
    # "The latest I can get in to see the galleries is the Costume Room."
    hours = Entry(
        11,
        "Opening hours",
        "The museum is open Tuesday to Sunday from 10am to 5pm. Last entry to the galleries is at 4:30pm.",
        "visiting.md",
    )
    c = SentenceChecker(hours, [hours], "What's the latest I can get in to see the galleries?", VENUE)
    v = c.check("The latest I can get in to see the galleries is the museum.")
    assert not v.ok and v.reason == "the asked figure is not first"


def test_a_clause_dropped_between_a_figure_and_its_days_is_a_swap():
    # gemma3-270m at the station, "How much does it cost to park at the shopping centre?":
    # "It costs £2 for up to 2 hours, £7.50 for the day and all day at weekends." (the
    # weekends are £4's: "... £7.50 for the day and £4 after 6pm on weekdays and all day at weekends").
    car_park = Entry(
        12,
        "Car park",
        "The station car park has 340 spaces, including 18 blue badge spaces near the main entrance. It costs "
        "£2 for up to 2 hours, £7.50 for the day and £4 after 6pm on weekdays and all day at weekends.",
        "travel.md",
    )
    question = "How much is the car park at weekends?"
    said = "It costs £2 for up to 2 hours, £7.50 for the day and all day at weekends."
    assert "pairs" in held_back(car_park, question, said)
    assert not held_back(car_park, question, "It costs £4 after 6pm on weekdays and all day at weekends.")
    assert not held_back(car_park, question, "It costs £2 for up to 2 hours and £7.50 for the day.")
