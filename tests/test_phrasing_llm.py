"""The phrasing rules on the REAL small models (issue 13, class 4): questions where
SmolLM2-135M and gemma3-270m said something that changed the meaning before the rules
(a garbled repeat, a negation the entry does not make, an echo of the question), asked
again through the whole Assistant on the bench venue's own knowledge. Each answer must
carry the entry's fact and show none of the defect classes kiosk/phrasing_defects.py
counts. Generation is seeded, so a failure here is a real regression, not noise."""

from __future__ import annotations

import tomllib

import pytest
from core_support import make_config

from kiosk import config as config_mod
from kiosk import paths, phrasing_defects
from kiosk.assistant import Assistant
from kiosk.knowledge.answer import settled
from kiosk.knowledge.retrieve import Knowledge

pytestmark = pytest.mark.llm

VENUES = paths.REPO_ROOT / "assets" / "bench" / "venues"
CASES = [
    # (venue, question, a fact the answer must carry); what the model said before, quoted:
    # "The Long Stay car park is located in the Long Stay car park, which is a short walk ..."
    ("airport", "Where can I wait to pick my son up without paying?", "15 minutes"),
    # "The wife is the one who has the password."
    ("airport", "whats the wife i password", "no password"),
    # "You can't change your baby's nappy, it's a baby changing facility."
    ("museum", "I need to change my baby's nappy", "accessible toilets"),
]


@pytest.fixture(scope="module", params=["smollm2-135m", "gemma3-270m"])
def model(request):
    from kiosk.runtime import load_llm

    cfg = config_mod.Config()
    cfg.llm.model = request.param
    return load_llm(cfg)


@pytest.mark.parametrize(("venue", "question", "fact"), CASES)
async def test_the_real_model_phrases_without_changing_the_meaning(tmp_path, model, venue, question, fact):
    cfg = make_config(tmp_path, knowledge={"instant_threshold": 1.0})  # every covered question to the LLM
    cfg.knowledge.path = str(VENUES / venue / "knowledge")
    cfg.venue.name = tomllib.loads((VENUES / venue / "venue.toml").read_text("utf-8"))["name"]
    knowledge = Knowledge.open(VENUES / venue / "knowledge", tmp_path / "k.db")
    a = Assistant(cfg, knowledge, model)
    conv = a.start_conversation("cli")
    done = await a.ask(conv, question)
    if done.outcome != "answered":
        pytest.skip(f"the decision did not give this question to the LLM ({done.outcome})")
    top = next(e for e in knowledge.entries if e.title == conv.turns[-1].sources[0])
    others = [e.text for e in knowledge.entries if e is not top]
    found = phrasing_defects.defects(
        done.text, question, top.text, others, cfg.venue.name, settled(top.text, question, knowledge.vocab)
    )
    assert found == [], done.text
    assert fact in done.text.lower()
