"""The shopper's own phrasing: questions about the product in focus, follow-ups that change one
thing of the need, a new topic, family and shoppers' words, several values, prices in words,
complete-the-look for a requested kind, and honest answers when a constraint cannot be met."""
from __future__ import annotations

import json

import pytest

from agent import TOOLS
from agent.assistant import ShoppingAgent
from agent.understanding import TurnModel, training_key
from eval.suites.dialogue import load_test_set
from retrieval import Filters, cache_dir, price_range


@pytest.fixture(params=["parser", "model"])
def chat(request, searcher):
    """New conversations understood by the keyword parser, then by the trained turn model."""
    return lambda: ShoppingAgent(searcher, planner=request.param, explanations="template")


def products(searcher, answer):
    return [searcher.index.product(c.id) for c in answer.cards]


@pytest.mark.parametrize("text, expected", [
    ("under 2k", (None, 2000)), ("below Rs 1,500", (None, 1500)), ("2000 rupees", (None, 2000)),
    ("between 1000 and 1500", (1000, 1500)), ("from 500 to 800", (500, 800)),
    ("1000-1500 rs", (1000, 1500)), ("over 999", (999, None)), ("navy shirts", (None, None)),
    ("nothing above 600 pls", (None, 600)), ("not over 1,200", (None, 1200)),
])
def test_prices_in_words(text, expected):
    assert price_range(text) == expected


def test_shoppers_words_family_words_and_several_values(searcher):
    parse = searcher.vocabulary.parse
    assert parse("t-shirts for men").values == {"article_type": "Tshirts", "gender": "Men"}
    assert parse("tees for my husband").values == {"article_type": "Tshirts", "gender": "Men"}
    assert parse("black or white ones").values["colour"] == ("Black", "White")
    assert parse("black shirt with white print").values["colour"] == "Black"   # not an "or"
    assert parse("something for the gym").values == {"usage": "Sports"}


def test_small_talk_gets_a_reply_not_a_search(searcher, chat):
    agent = chat()
    agent.turn("t-shirts for men")
    shown = list(agent.state.shown)
    for text, reply in (("hi there!", "Hi!"), ("thanks a lot", "welcome"), ("ok", "welcome")):
        a = agent.turn(text)
        assert a.trace.intent == "help" and not a.trace.tools and not a.cards, text
        assert reply in a.message and "I can search" in a.message
    assert agent.state.shown == shown and agent.state.filters["article_type"] == "Tshirts"


def test_a_question_about_the_product_in_focus_refines_it(searcher, chat):
    agent = chat()
    agent.turn("show me t-shirts for men")
    first = agent.turn("the first one").cards[0].id
    for question in ("do you have it in black?", "a white version of this", "same style, in blue please"):
        a = agent.turn(question)
        assert a.trace.intent == "refine" and a.trace.tools[0].resolved["product"] == first, question
        colour = searcher.vocabulary.parse(question).values["colour"]
        assert a.cards and all(p.article_type == "Tshirts" and p.colour == colour and p.gender == "Men"
                               for p in products(searcher, a)), question


def test_a_follow_up_changes_one_slot_and_keeps_the_rest(searcher, chat):
    agent = chat()
    agent.turn("t-shirts for men")
    a = agent.turn("white ones instead")
    assert a.trace.intent == "filter"
    assert all(p.article_type == "Tshirts" and p.gender == "Men" and p.colour == "White"
               for p in products(searcher, a))
    assert a.trace.update == {"set": {"colour": "White"}, "cleared": []}
    a = agent.turn("anything under 800?")
    assert a.cards and all(p.colour == "White" and p.article_type == "Tshirts" and p.price <= 800
                           for p in products(searcher, a))
    a = agent.turn("black or white ones")
    assert a.cards and all(p.colour in ("Black", "White") and p.price <= 800 for p in products(searcher, a))
    assert a.state["filters"]["colour"] == ["Black", "White"]


def test_a_new_kind_of_product_starts_a_new_need(searcher, chat):
    agent = chat()
    agent.turn("t-shirts for men under 700")
    a = agent.turn("show me backpacks")
    assert agent.state.filters == {"article_type": "Backpacks"} == a.trace.need
    assert set(a.trace.update["cleared"]) == {"gender", "price_max"}
    assert a.cards and all(p.article_type == "Backpacks" for p in products(searcher, a))
    assert agent.turn("start over").state["filters"] == {}


def test_a_change_after_a_refinement_replaces_the_refinement(searcher, chat):
    agent = chat()
    agent.turn("t-shirts for men")
    agent.turn("the first one")
    agent.turn("do you have it in black?")
    a = agent.turn("how about in white")
    assert a.trace.intent == "filter" and "in White" in a.message
    assert a.cards and all(p.colour == "White" and p.article_type == "Tshirts" for p in products(searcher, a))


def test_complete_the_look_keeps_the_kind_asked_for(searcher, chat):
    agent = chat()
    agent.turn("t-shirts for men")
    agent.turn("the first one")
    a = agent.turn("what shoes go with it?")
    assert a.trace.intent == "complete_look" and a.trace.tools[0].args["category"] == "Shoes"
    assert a.cards and all(p.subcategory == "Shoes" for p in products(searcher, a))
    fresh = chat().turn("sports shoes to go with my shorts")     # nothing on screen yet
    assert fresh.trace.intent == "search" and fresh.cards


def test_nothing_in_a_material_the_catalogue_lacks_is_said_plainly(searcher, chat):
    assert "linen" not in searcher.vocabulary.phrases          # the slice has no linen at all
    agent = chat()
    agent.turn("t-shirts for men")
    agent.turn("the first one")
    a = agent.turn("like this but in linen")
    assert a.trace.intent == "refine" and not a.cards
    assert "nothing in linen" in a.message


def test_an_unmet_filter_is_relaxed_and_named(searcher, chat):
    index = searcher.index
    colour = next(c for c in index.distinct("colour")
                  if not index.has(Filters(article_type="Backpacks", colour=c)))
    agent = chat()
    a = agent.turn(f"{colour.lower()} backpacks")
    assert "Nothing matches" in a.message and f"colour {colour}" in a.message and "without it" in a.message
    assert a.trace.tools[0].details["relaxed"] == ["colour"]
    assert a.cards and all(p.article_type == "Backpacks" for p in products(searcher, a))


def test_a_refinement_no_product_of_its_kind_meets_keeps_the_change(searcher, chat):
    index = searcher.index
    agent = chat()
    agent.turn("show me backpacks")
    bag = index.product(agent.turn("the first one").cards[0].id)
    colour = next(c for c in index.distinct("colour")
                  if not index.has(Filters(article_type="Backpacks", colour=c))
                  and index.has(Filters(colour=c, gender=bag.gender)))
    a = agent.turn(f"like this but in {colour.lower()}")
    assert a.trace.intent == "refine" and "No Backpacks" in a.message
    assert a.trace.tools[0].details["relaxed"] == ["article_type"]
    assert a.cards and all(p.colour == colour for p in products(searcher, a))


def test_the_turn_model_is_loaded_from_its_built_artefact(searcher):
    encoder = searcher.encoder
    model = TurnModel.for_encoder(encoder)                 # built on first use in this session
    folder = cache_dir() / "turn-model" / training_key(encoder)
    built = (folder / "model.joblib").stat().st_mtime_ns
    assert json.loads((folder / "meta.json").read_text())["phrasings"] == model.meta["phrasings"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".turn-model-")]  # no half writes
    agent = ShoppingAgent(searcher, planner="model", explanations="template")
    for text in ("hello", "navy shirts for my husband", "only white ones", "why the second one?"):
        agent.turn(text)
    assert agent.turn_model is model and (folder / "model.joblib").stat().st_mtime_ns == built
    loaded = TurnModel.load(folder, encoder)               # a new process reads the same artefact
    state = agent.state
    for text in ("do you have it in black?", "what goes with it", "start over", "compare the first two"):
        mod = searcher.vocabulary.parse(text)
        assert loaded.predict(text, mod, state) == model.predict(text, mod, state)
    assert agent.last_trace.decided_by.startswith("model (")


def test_the_held_out_conversations_are_well_formed(tmp_path):
    scripts = load_test_set()
    assert len(scripts) >= 80 and sum(len(s.turns) for s in scripts) >= 600
    assert {t.intent for s in scripts for t in s.turns} == {*TOOLS, "help"}   # every intent asked
    bad = tmp_path / "bad.txt"
    bad.write_text("## a typo in a check\n> hi\nhelp | - | cards=none\n")
    with pytest.raises(ValueError, match=r"bad.txt:3: not understood: \['cards=none'\]"):
        load_test_set(bad)


def test_bare_positions_name_products_when_nothing_else_does(searcher):
    agent = ShoppingAgent(searcher, planner="model", explanations="template")
    shown = agent.turn("t-shirts for men").cards
    assert agent.turn("show 3").cards[0].id == shown[2].id
    a = agent.turn("compare 1 & 2")
    assert a.trace.intent == "compare" and [c.id for c in a.cards] == [shown[0].id, shown[1].id]
