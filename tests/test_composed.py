"""Composed queries ("like this but in blue"): the named attribute holds for every result, the
rest of the reference (article type, gender) is kept, the reference itself never comes back."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from retrieval import QueryError, normalise


def test_normalise_folds_spelling_variants():
    assert normalise("Short-Sleeved") == normalise("short sleeves") == "short sleeve"
    assert normalise("Women's") == normalise("womens") == "women"
    assert normalise("Checked") == normalise("check")


def test_modifier_parsing_uses_catalogue_values(shop_searcher):
    vocab = shop_searcher.vocabulary
    assert vocab.parse("but in navy blue").values["colour"] == "Navy Blue"
    assert vocab.parse("in blue please").values["colour"] == "Blue"
    assert vocab.parse("for women").values["gender"] == "Women"
    assert vocab.parse("with short sleeves").values["sleeve"] == "Short Sleeves"
    assert vocab.parse("cheaper").price == "cheaper"
    under = vocab.parse("under Rs 1,500")
    assert under.price == "range" and under.price_max == 1500
    assert vocab.parse("something nice").values == {}


def reference_with_alternatives(shop_searcher, field):
    """A product whose article type and gender also exist in another value of ``field``."""
    index = shop_searcher.index
    for pid in index.all_ids():
        p = index.product(pid)
        others = {r[0] for r in index.db.execute(
            f"SELECT DISTINCT {field} FROM products WHERE article_type=? AND gender=? AND {field}!=?",
            [p.article_type, p.gender, getattr(p, field)])}
        if others:
            return p, sorted(others)[0]
    pytest.skip(f"no reference with another {field}")


def test_colour_change_keeps_article_type_and_gender(shop_searcher):
    ref, colour = reference_with_alternatives(shop_searcher, "colour")
    out = shop_searcher.composed(f"but {colour.lower()}", item=ref.id, k=5)
    assert out.results, out.filters
    for r in out.results:
        assert r.id != ref.id
        assert (r.product.colour, r.product.article_type, r.product.gender) == (
            colour, ref.article_type, ref.gender)
    assert out.results == sorted(out.results, key=lambda r: -r.score)


def test_cheaper_and_attribute_mentions(shop_searcher):
    index = shop_searcher.index
    ref = max((index.product(pid) for pid in index.all_ids()[:100]),
              key=lambda p: p.price or 0)
    cheaper = shop_searcher.composed("cheaper", item=ref.id, k=5)
    assert cheaper.results
    assert all(r.product.price < ref.price for r in cheaper.results)
    sleeves = shop_searcher.composed("with short sleeves", item=ref.id, k=5)
    assert all("short sleeves" in r.product.facts.lower() for r in sleeves.results)


def test_photo_reference_infers_article_type(shop_searcher):
    ref = shop_searcher.index.product(shop_searcher.index.all_ids()[0])
    out = shop_searcher.composed("in black", image=ref.image_path, k=5)
    assert all(r.product.colour == "Black" for r in out.results)
    assert out.filters.article_type == ref.article_type


def test_bad_composed_queries(shop_searcher):
    with pytest.raises(QueryError, match="empty modifier"):
        shop_searcher.composed("  ", item=shop_searcher.index.all_ids()[0])
    with pytest.raises(QueryError, match="exactly one reference"):
        shop_searcher.composed("in blue")


@pytest.mark.slow
def test_cli_modifier(shop_index, shop_searcher):
    ref = shop_searcher.index.all_ids()[0]
    run = lambda *a: subprocess.run([sys.executable, "-m", "retrieval", "search", "--index",
                                     str(shop_index), *a], capture_output=True, text=True)
    done = run("--item", ref, "--modifier", "in black", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert "colour: Black" in payload["modifier"]["constraints"]
    assert ref not in [r["id"] for r in payload["results"]]
    bad = run("--text", "shirt", "--modifier", "in black")
    assert bad.returncode == 2 and "needs a reference" in bad.stderr
