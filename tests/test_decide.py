"""The decision "does this entry answer this question", and the answer made from the entry.

Knowledge only (no LLM): the real demo knowledge, the real encoder, WordNet from Debian's
wordnet-base and wordfreq, as the kiosk runs them.
"""

from __future__ import annotations

import re

import pytest

from kiosk import bench
from kiosk.knowledge.answer import compose
from kiosk.knowledge.compounds import other_kind
from kiosk.knowledge.decide import decide
from kiosk.knowledge.vocab import Vocabulary, is_place_or_name, misspelt, subject_weight
from kiosk.knowledge.wordnet import WordNet
from kiosk.text import SentenceSplitter, split_sentences


def test_wordnet_reader_base_forms_and_everyday_words():
    wn = WordNet()
    assert wn.base_forms("children", "n") == ["child"]
    assert "close" in wn.base_forms("closes", "v")
    assert "child" in wn.neighbours("toddler")
    assert "closed" in wn.antonyms("open")
    assert wn.synsets("xqzzy") == []


def test_vocabulary_covers_everyday_words_for_the_knowledge_words():
    v = Vocabulary(["The cafe closes at 4pm.", "Children under 5 go free.", "Bicycle racks are outside."])
    assert v.cover("shut") == {"close"}  # a WordNet synonym
    assert "child" in v.cover("toddlers")  # a narrower word, plural
    assert v.cover("kiddies") & {"child"}
    assert v.cover("bicycles") == {"bicycle"}
    assert v.cover("passport") == set()
    assert v.cover("bicyle") == {"bicycle"}  # a non-word, read as the closest knowledge word


def test_rare_subjects_weigh_more_than_everyday_wording():
    assert subject_weight("passport") > 0.5 > subject_weight("somewhere")
    assert subject_weight("archive") > subject_weight("bring")
    assert subject_weight("week") <= 0.1
    assert is_place_or_name("leeds") and is_place_or_name("bristol")
    assert not is_place_or_name("cafe") and not is_place_or_name("toilet")


def test_a_long_typing_slip_is_read_as_its_word_not_as_a_place():
    assert misspelt("cheeper") == "cheaper" and misspelt("discout") == "discount"
    for name in ("chatsworth", "kenilworth", "tillingford", "leeds"):
        assert misspelt(name) is None
    assert not is_place_or_name("cheeper") and is_place_or_name("tillingford")
    v = Vocabulary(["A 10% discount for students."])
    assert v.cover("discout") == {"discount"}


@pytest.mark.parametrize(
    ("question", "entry", "asked"),
    [
        ("What time does the post office close?", "The ticket office is open from 6am to 8pm.", "post office"),
        ("where's the nearest cash machine", "Top up print credit at the top-up machine by the lockers.",
         "cash machine"),
        ("Is there a season ticket?", "A family ticket for two adults and two children is £60.", "season ticket"),
        # the same thing, or the general word for it: the entry may well answer
        ("How far is the train station?", "We are five minutes from the railway station.", None),
        ("Can I pay by credit card?", "We accept all major cards.", None),
        ("Can I pay by credit card?", "We take cards and cash.", None),
        ("Is there a cash machine?", "There is a cash machine by the main doors.", None),
        ("Where is the gift shop?", "The shop on the ground floor sells gifts and books.", None),
    ],
)
def test_a_compound_noun_is_not_answered_with_another_kind_of_its_head(question, entry, asked):
    """WordNet lists "post office" and "cash machine" as nouns of their own: an entry about a
    ticket office or a top-up machine does not answer them; one about "all major cards" may
    well answer a credit card question."""
    assert other_kind(question, entry) == asked


@pytest.mark.parametrize(
    "question",
    [
        "What time does the library in Leeds close?",
        "what time does the library in leeds close",  # as speech arrives: lowercase, no punctuation
        "Is your cafe cheaper than the one at the station?",  # mixes this venue and another
        "Is the museum open on Mondays?",
    ],
)
def test_questions_about_somewhere_else_are_refused(knowledge, question):
    assert decide(knowledge, question).action == "refuse"


def test_a_follow_up_is_decided_with_the_previous_question(knowledge):
    first = "What time do you open on Saturday?"
    d = decide(knowledge, "and on Sundays?", previous=first)
    assert d.action != "refuse"
    assert "Sunday" in d.hits[0].entry.text
    assert d.query.startswith(first)
    # Without the previous turn the same words are not enough to answer from.
    assert decide(knowledge, "and on Sundays?").confidence < d.confidence


def _speech_shaped(q: str) -> str:
    return re.sub(r"[^\w\s']", "", q).lower()


def test_speech_shaped_questions_decide_like_typed_ones(knowledge):
    answerable, _ = bench.load_questions()
    same = 0
    for item in answerable:
        typed, heard = decide(knowledge, item["q"]), decide(knowledge, _speech_shaped(item["q"]))
        same += (typed.action == "refuse") == (heard.action == "refuse") and (
            typed.action == "refuse" or typed.hits[0].entry.id == heard.hits[0].entry.id
        )
    assert same / len(answerable) >= 0.9, f"{same}/{len(answerable)}"


def test_answer_puts_the_answering_sentence_first_and_stays_short(knowledge):
    text = (
        "The Page Turner cafe is on the ground floor, next to the children's library and the lifts. "
        "It serves hot food, soup and sandwiches until 2pm, and cakes all day. It has forty seats "
        "and a garden terrace in summer. The cafe closes at 4pm on weekdays. A day ticket costs £4."
    )
    out = compose(text, "When does the cafe close?", knowledge.vocab)
    assert out.startswith("The cafe closes at 4pm")
    assert out.index("garden terrace") > out.index("closes at 4pm")
    assert compose(text, "How much is a day ticket?", knowledge.vocab).startswith("A day ticket costs £4.")


def test_yes_or_no_first_only_when_the_sentence_settles_it(knowledge):
    v = knowledge.vocab
    assert compose("The museum is closed on Mondays.", "Are you open on Mondays?", v).startswith("No.")
    assert compose("There is a cafe on the ground floor.", "Is there a cafe?", v).startswith("Yes.")
    # "only" restricts: neither yes nor no is safe, the sentence speaks for itself.
    assert (
        compose("Only assistance dogs are allowed.", "Can I bring my dog?", v)
        == "Only assistance dogs are allowed."
    )


def test_one_sentence_splitter_for_the_fact_check_and_speech():
    text = "We open at 9 a.m. on Mondays. Dr. Smith runs the 4.30 talk."
    assert split_sentences(text) == ["We open at 9 a.m. on Mondays.", "Dr. Smith runs the 4.30 talk."]
    s = SentenceSplitter()
    spoken = [x for piece in text.split(" ") for x in s.feed(piece + " ")] + s.flush()
    assert spoken == split_sentences(text)


async def test_follow_up_in_a_conversation_and_reset_with_the_visitor(config, knowledge):
    from kiosk import events as ev
    from kiosk.assistant import Assistant

    a = Assistant(config, knowledge, None)  # knowledge only: the decision, not the phrasing
    conv = a.start_conversation("kiosk")
    first = await a.ask(conv, "What time do you open on Saturday?")
    assert isinstance(first, ev.AnswerDone) and first.outcome == "instant"
    follow = await a.ask(conv, "and on sundays")  # as speech arrives
    assert isinstance(follow, ev.AnswerDone) and follow.outcome == "instant"
    assert "sunday" in follow.text.lower()
    a.reset(conv)
    assert conv.turns == []  # the next visitor's "and on sundays" has nothing to follow


async def test_advice_and_mixed_venue_questions_get_the_staff_pointer(config, knowledge):
    from kiosk import events as ev
    from kiosk.assistant import Assistant

    a = Assistant(config, knowledge, None)
    for q in ("Is your cafe cheaper than the one at the station?", "Should I take paracetamol for my headache?"):
        done = await a.ask(a.start_conversation("kiosk"), q)
        assert isinstance(done, ev.AnswerDone) and done.outcome == "refused", q
        assert config.venue.staff_pointer in done.text


def _knowledge_of(tmp_path, text: str):
    from kiosk.knowledge.retrieve import Knowledge

    folder = tmp_path / "k"
    folder.mkdir()
    (folder / "a.md").write_text(text, "utf-8")
    return Knowledge.open(folder, tmp_path / "k.db", use_embeddings=False)


def test_a_question_about_the_state_of_now_is_refused_unless_the_knowledge_speaks_of_it(tmp_path):
    """Standing information cannot know whether tonight's show is sold out or a booking
    is confirmed: the show-times entry would be stated as if it answered."""
    k = _knowledge_of(
        tmp_path,
        "## Show times\nEvening shows begin at 7:30pm and matinees at 2:30pm.\n"
        "## Booking\nBook online or at the box office; tickets are sent by email.\n"
        "## Cancelled shows\nIf a show is cancelled you get a full refund.\n",
    )
    for question in (
        "Is the 7:30 show sold out tonight?",
        "Is my booking for Saturday confirmed?",
        "Have you got any seats left for Friday?",
        "is the matinee running late",
    ):
        d = decide(k, question)
        assert d.action == "refuse" and "now" in d.reason, question
    # The knowledge speaks of cancelled shows; "how can I check if" asks where to look.
    assert decide(k, "What happens if the show is cancelled?").reason.find("now") < 0
    assert decide(k, "How can I check if the show is running late?").reason.find("now") < 0
    assert decide(k, "When do evening shows start?").action != "refuse"
