"""Venue knowledge: Markdown parsing, the FTS5 index, retrieval and the refusal signals."""

from __future__ import annotations

import sqlite3

import pytest
from core_support import assert_venue_floors

from kiosk import bench, paths
from kiosk.answer_bench import load_set
from kiosk.errors import KnowledgeError
from kiosk.knowledge.decide import decide
from kiosk.knowledge.index import KnowledgeIndex, parse_markdown
from kiosk.knowledge.retrieve import Knowledge

MD = """# Venue title is not an entry

Intro text before any entry is ignored.

## Opening hours
Open 9am to 5pm.
<!-- a comment the visitor never sees -->

## Empty heading

## Prices
- Adults 5 pounds
- Children free
"""


def test_parse_markdown_entries():
    entries = parse_markdown(MD, "x.md")
    assert entries == [("Opening hours", "Open 9am to 5pm."), ("Prices", "Adults 5 pounds Children free")]


def test_demo_venue_has_enough_entries(knowledge):
    assert len(knowledge.entries) >= 25


def test_index_is_rebuilt_only_when_files_change(tmp_path, copy_knowledge):
    db = tmp_path / "k.db"
    Knowledge.open(copy_knowledge, db, use_embeddings=False).index.close()
    fp1 = KnowledgeIndex(db).current_fingerprint()
    # Unchanged files: same fingerprint, and the stored table is reused (rowid sequence untouched).
    conn = sqlite3.connect(db)
    conn.execute("create table marker (x)")
    conn.commit()
    conn.close()
    Knowledge.open(copy_knowledge, db, use_embeddings=False).index.close()
    assert "marker" in KnowledgeIndex(db).db.table_names()
    # A changed file: re-indexed, and the new fact is searchable.
    (copy_knowledge / "extra.md").write_text("## Ferret racing\nFerret racing is held on Tuesdays in the garden.\n")
    k = Knowledge.open(copy_knowledge, db, use_embeddings=False)
    assert KnowledgeIndex(db).current_fingerprint() != fp1
    assert k.search("When is the ferret racing?", 1)[0].entry.title == "Ferret racing"


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(KnowledgeError) as err:
        Knowledge.open(tmp_path / "nope", tmp_path / "k.db", use_embeddings=False)
    assert err.value.code == "knowledge.missing"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.md").write_text("no headings here")
    with pytest.raises(KnowledgeError) as err:
        Knowledge.open(tmp_path / "empty", tmp_path / "k.db", use_embeddings=False)
    assert err.value.code == "knowledge.empty"


@pytest.mark.parametrize("query", ['"', "NEAR(a b)", "AND OR NOT", "*", "col:value", "';drop table entries;--", "é ü ß 🙂"])
def test_visitor_text_never_reaches_fts_as_syntax(knowledge, query):
    for word in query.split():
        knowledge.index.match_ids(word)  # raises on FTS syntax if the quoting were missing
    hits = knowledge.search(query, 3)
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert knowledge.index.db["entries"].count == len(knowledge.entries)


def test_retrieval_puts_the_right_entry_first(knowledge):
    answerable, _ = bench.load_questions()
    right = 0
    for item in answerable:
        top = knowledge.search(item["q"], 1)[0]
        right += any(e.lower() in top.entry.full.lower() for e in item["expect"])
    assert right / len(answerable) >= 0.9, f"{right}/{len(answerable)}"


def test_off_topic_questions_are_refused_by_the_decision(knowledge, config):
    _, off_topic = bench.load_questions()
    k = config.knowledge
    refused = sum(
        decide(knowledge, i["q"], None, k.top_k, k.refuse_threshold, k.instant_threshold).action == "refuse"
        for i in off_topic
    )
    assert refused / len(off_topic) >= 0.9


def test_unknown_subject_signals(knowledge):
    assert knowledge.unknown_subject("Is the museum open on Mondays?")
    assert knowledge.unknown_subject("How much is a ticket to the football?")
    assert knowledge.unknown_subject("Where is the Eiffel Tower?")
    # Things the knowledge does mention are not unknown, in any number.
    assert knowledge.unknown_subject("Are you open on Sunday?") is None
    assert knowledge.unknown_subject("Is there a cafe?") is None
    assert knowledge.unknown_subject("How far is the railway station?") is None
    # capitalised, but a month, a holiday or a typing slip, not a name of somewhere else
    assert knowledge.unknown_subject("What time do you shut today? It's June") is None
    assert knowledge.unknown_subject("Are you open on Boxing Day?") is None
    assert knowledge.unknown_subject("Is it Cheeper online?") is None


def test_lexical_only_mode_still_answers(tmp_path):
    from kiosk import paths

    k = Knowledge.open(paths.DEMO_KNOWLEDGE_DIR, tmp_path / "lex.db", use_embeddings=False)
    assert k.encoder is None
    assert k.search("How much does printing cost?", 1)[0].entry.title == "Printing and photocopying"


VENUES = paths.BENCH_DIR / "venues"
# Floors per regression venue, knowledge only (the decision and the entry it picks):
# answered right, refused off-topic, at most this many wrong entries stated. Measured
# when each floor was set (docs/ARCHITECTURE.md); a fall below shows a regression. The
# airport and theme park were first seen after the decision was built; their first-contact
# figures are in the README.
FLOORS = {
    # Set in issue 13's fourth round (slots.py, WordNet instances and compounds, the fit on
    # every bench venue but decide.HELD_OUT), one answer and one refusal below what the
    # decision gave then in retrieval order (answered right, refused, wrong entries):
    "airport": (0.56, 0.90, 3),  # 26/44, 20/21, 2 (eighth round; was 28/44, 20/21, 3)
    "campsite": (0.61, 0.66, 10),  # 28/44, 15/21, 9 (eighth round; was 27/44, 17/21, 7)
    "cathedral": (0.70, 0.76, 9),  # 32/44, 17/21, 8 (eighth round; was 33/44, 18/21, 6)
    "cinema": (0.61, 0.85, 7),  # 28/44, 19/21, 6
    "council": (0.73, 0.80, 8),  # 34/45, 18/21, 7
    "ferry": (0.64, 0.71, 11),  # 28/42, 16/21, 10
    "hospital": (0.59, 0.71, 12),  # 26/42, 16/21, 11
    "leisure": (0.66, 0.90, 3),  # 29/42, 19/20, 2
    "mall": (0.84, 0.52, 12),  # 38/44, 12/21, 11 (eighth round; was 36/44, 14/21, 8)
    "museum": (0.70, 0.95, 4),  # 37/51, 20/20, 3
    "services": (0.71, 0.61, 9),  # 31/42, 14/21, 8
    "station": (0.78, 0.77, 10),  # 38/47, 15/18, 9
    "supermarket": (0.65, 0.85, 6),  # 30/44, 19/21, 5
    "theatre": (0.68, 0.80, 7),  # 31/44, 18/21, 6
    "themepark": (0.56, 0.90, 4),  # 24/41, 19/20, 3
    "unilib": (0.77, 0.61, 11),  # 35/44, 14/21, 10
    "zoo": (0.63, 0.61, 11),  # 30/46, 14/21, 10
    # Written blind after the round's last change and scored once (first contact, old and
    # new code, in the issue 13 notes); held out of the fit (decide.HELD_OUT).
    "hotel": (0.72, 0.76, 10),  # 32/43, 17/21, 9
    "sciencecentre": (0.54, 0.76, 12),  # 25/44, 17/21, 11 (eighth round; was 25/44, 18/21, 8)
    # Issue 13's fifth round: written blind, scored once on main 92edf1d before any change
    # (first contact in the notes); held out of the fit, failures not yet studied.
    "aquarium": (0.54, 0.66, 9),  # 25/44, 15/21, 8
    "icerink": (0.59, 0.85, 8),  # 27/44, 19/21, 7
    "statelyhome": (0.52, 0.85, 7),  # 24/44, 19/21, 6
    # Issue 13's sixth round: written blind, scored once on b2fdbb6 (and its parent in the
    # same run) before anything was read; held out of the fit, failures not yet studied.
    "botanic": (0.61, 0.76, 8),  # 28/44, 17/21, 7
    "farmpark": (0.70, 0.71, 11),  # 32/44, 16/21, 10 (eighth round; was 32/44, 18/21, 7)
    "railway": (0.61, 0.61, 9),  # 28/44, 14/21, 8
    # Issue 13's seventh round: written blind, scored once (old and new code in the same
    # run, first contact in the notes); held out of the fit, failures not yet studied.
    "gallery": (0.65, 0.76, 9),  # 30/44, 17/21, 8
    "stadium": (0.72, 0.80, 8),  # 33/44, 18/21, 7
    "trampoline": (0.59, 0.61, 16),  # 27/44, 14/21, 15
    # issue 13 eighth round: written blind, scored once at first contact (README)
    "gardencentre": (0.59, 0.85, 8),  # 27/44, 19/21, 7
    "parkcentre": (0.77, 0.57, 14),  # 35/44, 13/21, 13
    "bowling": (0.65, 0.76, 9),  # 30/44, 17/21, 8
}


@pytest.mark.parametrize("venue", sorted(FLOORS))
def test_regression_venues_answer_and_refuse(tmp_path, venue):
    """Venues written by people who never saw this code: a floor, so a regression shows."""
    folder = VENUES / venue
    k = Knowledge.open(folder / "knowledge", tmp_path / "k.db")
    assert_venue_floors(k, load_set(folder / "questions.toml"), FLOORS[venue])


def test_every_regression_venue_has_a_floor():
    assert sorted(p.name for p in VENUES.iterdir() if p.is_dir()) == sorted(FLOORS)


def test_synonyms_find_the_entry_in_other_words(knowledge):
    from kiosk.knowledge.lexicon import expand

    assert "toilets" in expand("Where's the loo?")
    assert expand("When is storytime?") == "When is storytime?"
    assert knowledge.search("Where is the loo?", 1)[0].entry.title == "Toilets"


def test_sub_headings_stay_in_their_entry_and_empty_headings_are_skipped():
    md = "## Holidays\nClosed on bank holidays.\n### Christmas\nClosed 24 to 26 December.\n## \nOrphan text.\n"
    assert parse_markdown(md, "x.md") == [
        ("Holidays", "Closed on bank holidays. Christmas: Closed 24 to 26 December.")
    ]


def test_possessive_names_in_the_knowledge_are_known(tmp_path):
    folder = tmp_path / "k"
    folder.mkdir()
    (folder / "a.md").write_text("## Parking\nThe car park is on Tanner's Row, behind the museum.\n")
    k = Knowledge.open(folder, tmp_path / "k.db", use_embeddings=False)
    assert k.unknown_subject("Can I park near Tanner's Row?") is None
    assert k.unknown_subject("Can I park near Baker Street?")
