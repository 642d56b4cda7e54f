"""`kiosk bench answers`: its progress moves, and its phrasing-defect detectors
(kiosk/phrasing_defects.py) see the defects real small models produced."""

from __future__ import annotations

from contextlib import contextmanager

from kiosk import answer_bench, phrasing_defects, progress

TOP = (
    "The terminal building opens at 4:15am and closes 30 minutes after the last scheduled arrival, "
    "normally around 11:45pm. The terminal is locked overnight and passengers cannot sleep in the building."
)
CHECK_IN = "The check-in desk is open 2 hours before departure and closes 40 minutes before departure."


def test_detectors_see_the_observed_defects():
    # Each answer below is what SmolLM2-135M or gemma3-270m showed on the bench venues before the
    # phrasing rules (kiosk/knowledge/phrasing.py).
    d = phrasing_defects.defects
    assert "other_entry" in d(f"{CHECK_IN} {TOP}", "What time does this desk close?", TOP, [CHECK_IN], "Fenmoor")
    assert "repeat" in d(
        "The terminal is locked overnight and passengers cannot sleep in the building. " + TOP,
        "How early in the morning can I get into the building?", TOP, [], "Fenmoor",
    )
    assert "buried" in d(
        "The terminal is locked overnight and passengers cannot sleep in the building. " + TOP,
        "How early in the morning can I get into the building?", TOP, [], "Fenmoor",
    )
    wifi = "There is no password; you just register once with an email address."
    assert d("The wife is the one who has the password.", "whats the wife i password", wifi, [], "X") == ["echo"]
    assert "refusal" in d("Sorry, I don't know that. Please ask a member of staff.", "wifi?", wifi, [], "X")
    cafe = "The Skylark Café is landside in the Departures Hall, before security, and is open from 4:30am."
    assert "swap" in d("The Skylark Café is landside after security.", "where is the cafe", cafe, [], "X")
    assert "yes_no" in d("The terminal opens at 4:15am.", "Is the terminal open?", TOP, [], "X", settled="Yes.")
    # and a faithful answer shows none
    assert d("The terminal building opens at 4:15am.", "When does the terminal open?", TOP, [CHECK_IN], "X") == []


def test_the_bench_shows_its_progress(tmp_path, monkeypatch):
    venue = tmp_path / "venue"
    (venue / "knowledge").mkdir(parents=True)
    (venue / "knowledge" / "a.md").write_text(
        "## Opening hours\nThe library is open from 9am to 5pm every day.\n\n"
        "## Cafe\nThe cafe on the ground floor sells hot drinks and sandwiches.\n",
        "utf-8",
    )
    (venue / "questions.toml").write_text(
        '[[answerable]]\nq = "When are you open?"\nexpect = ["9am"]\nheard = "when are you open"\n\n'
        '[[off_topic]]\nq = "Who won the football?"\n\n'
        '[[follow_up]]\nfirst = "Is there a cafe?"\nthen = "what does it sell"\nexpect = ["drinks"]\n',
        "utf-8",
    )
    seen: list[tuple[str, int]] = []
    steps_done: list[str] = []

    class Bar:
        def advance(self, status: str = "") -> None:
            steps_done.append(status)

    @contextmanager
    def steps(label: str, total: int, enabled=None):
        seen.append((label, total))
        yield Bar()

    monkeypatch.setattr(progress, "steps", steps)
    result = answer_bench.run(
        {
            "data_dir": str(tmp_path / "data"),
            "knowledge": str(venue / "knowledge"),
            "questions": str(venue / "questions.toml"),
            "venue_name": "Riverside Library",
            "llm": "none",
        }
    )
    assert seen == [("asking", 5)]  # 2 answerable rows, 1 off-topic, a follow-up's two questions
    assert len(steps_done) == 5
    assert result["answerable"]["n"] == 1 and result["phrased"]["n"] == 0
