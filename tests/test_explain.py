"""Evidence for a match: heat-maps, word attributions, their faithfulness, the Evidence record."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from explain.evidence import Explainer, Query
from explain.faithfulness import image_deletions, text_deletions
from explain.gradcam import SimilarityCAM
from explain.tokens import TextAttributor
from retrieval import open_rgb


def first_with_photo(searcher, kind=None):
    for pid in searcher.index.all_ids():
        p = searcher.index.product(pid)
        if p.image_path and (kind is None or p.article_type == kind):
            return p
    raise AssertionError("no product with a photo")


def test_heatmap_covers_the_photo_in_unit_range(searcher):
    product = first_with_photo(searcher)
    photo = open_rgb(product.image_path)[0]
    q = searcher.encoder.encode_texts([product.title])[0]
    heat = SimilarityCAM(searcher.encoder)(photo, q)
    assert heat.cam.shape == (photo.height, photo.width)
    assert heat.cam.min() >= 0 and heat.cam.max() <= 1 and heat.cam.max() > 0.5
    assert heat.similarity == pytest.approx(float(searcher.encoder.encode_images([photo])[0] @ q),
                                            abs=1e-4)
    png = Image.open(io.BytesIO(heat.overlay_png(photo)))
    assert png.size == photo.size and png.mode == "RGB"


def test_heatmap_follows_the_query(searcher):
    """Two products side by side: each query lights up its own half."""
    shoe = open_rgb(first_with_photo(searcher, "Sports Shoes").image_path)[0]
    shirt = open_rgb(first_with_photo(searcher, "Tshirts").image_path)[0]
    both = Image.new("RGB", (shoe.width + shirt.width, max(shoe.height, shirt.height)), "white")
    both.paste(shoe, (0, 0))
    both.paste(shirt, (shoe.width, 0))
    cam = SimilarityCAM(searcher.encoder)
    enc = searcher.encoder
    on_shoe = cam(both, enc.encode_texts(["sports shoes"])[0]).cam
    on_shirt = cam(both, enc.encode_texts(["t-shirt"])[0]).cam
    left = slice(0, shoe.width)
    right = slice(shoe.width, None)
    assert on_shoe[:, left].mean() - on_shoe[:, right].mean() > \
        on_shirt[:, left].mean() - on_shirt[:, right].mean()


def test_word_attributions_are_complete_and_merge_pieces(searcher):
    attributor = TextAttributor(searcher.encoder, steps=48)
    target = searcher.encoder.encode_texts(["navy blue shirt"])[0]
    text = "Turtle Check Men Navy Blue Shirt, t-shirt collar"
    a = attributor(text, target)
    total = sum(w.weight for w in a.words)
    assert total == pytest.approx(a.similarity - a.baseline_similarity, abs=0.02)
    assert abs(a.delta) < 0.02
    assert a.similarity == pytest.approx(float(searcher.encoder.encode_texts([text])[0] @ target),
                                         abs=1e-4)
    assert [w.word for w in a.words] == text.split()            # "t-shirt" stays one word
    assert all(text[w.start:w.end] == w.word for w in a.words)
    assert {w.word.strip(",") for w in a.top(3)} & {"Navy", "Blue", "Shirt"}


def test_removing_top_words_hurts_more_than_random_words(searcher):
    product = first_with_photo(searcher)
    q = searcher.encoder.encode_texts([product.title])[0]
    a = TextAttributor(searcher.encoder, steps=16)(product.text, q)
    for d in text_deletions(searcher.encoder, a, q):
        assert d.comprehensiveness > d.random_drop
        assert d.full == pytest.approx(a.similarity, abs=1e-4)


def test_image_deletion_removes_the_requested_share(searcher):
    product = first_with_photo(searcher)
    photo = open_rgb(product.image_path)[0]
    q = searcher.encoder.encode_texts([product.title])[0]
    cam = np.zeros((photo.height, photo.width), np.float32)
    cam[: photo.height // 2] = 1.0                        # "evidence": the top half
    out = image_deletions(searcher.encoder, photo, cam, q, fractions=(0.1, 0.4))
    assert [d.amount for d in out] == [0.1, 0.4]
    assert all(np.isfinite([d.full, d.evidence_removed, d.random_removed, d.evidence_kept]).all()
               for d in out)
    assert out[0].full == pytest.approx(float(searcher.encoder.encode_images([photo])[0] @ q), abs=1e-4)


def test_evidence_record_for_a_text_query(searcher):
    explainer = Explainer(searcher, steps=8)
    result = searcher.text("navy blue t-shirt for men", 1)[0]
    ev = explainer(Query("text", text="navy blue t-shirt for men"), result)
    data = json.loads(json.dumps(ev.to_json(heatmap_png=ev.heatmap.overlay_png(
        open_rgb(result.product.image_path)[0]))))
    assert data["product"]["id"] == result.id and data["score"] == pytest.approx(result.score)
    assert set(data["similarity"]) == {"image", "text"}
    assert data["heatmap"]["shape"] == list(ev.heatmap.cam.shape) and data["heatmap"]["png_base64"]
    assert data["product_words"]["words"] and data["query_words"]["words"]
    assert data["costs"]["ig_steps"] == 8 and data["costs"]["heatmap_s"] > 0
    if result.product.gender == "Men":
        assert data["shared"].get("gender") == "Men"
    assert not any("similarity" in line for line in ev.facts())       # scores are not prose
    assert data["cluster"] == {"label": searcher.cluster_of(result.id)[0],
                               "name": searcher.cluster_of(result.id)[1]}
    assert not any("catalogue group" in line for line in ev.facts())   # no reference to share it


def test_default_heatmap_marks_what_removal_hurts_under_both_fills_and_road(searcher):
    """The default map (16 px squares painted white): removing its top fifth lowers the
    similarity more than removing the top of the reversed map, whether the regions are painted
    white, blurred, or imputed from their neighbours (ROAD)."""
    from explain.faithfulness import road

    product = first_with_photo(searcher, "Tshirts")
    photo = open_rgb(product.image_path)[0]
    q = searcher.encoder.encode_texts([product.title])[0]
    heat = Explainer(searcher).cam(photo, q)
    assert heat.cam.shape == (photo.height, photo.width)
    assert heat.cam.min() >= 0 and heat.cam.max() == pytest.approx(1) and not heat.empty
    for mode in ("fill", "blur"):
        first, = image_deletions(searcher.encoder, photo, heat.cam, q, fractions=(0.2,), mode=mode,
                                 grid=heat.grid)
        reverse, = image_deletions(searcher.encoder, photo, 1 - heat.cam, q, fractions=(0.2,), mode=mode,
                                   grid=heat.grid)
        assert first.comprehensiveness > reverse.comprehensiveness, mode
    assert road(searcher.encoder, photo, heat.cam, q) > road(searcher.encoder, photo, 1 - heat.cam, q)


def test_occlusion_skips_white_squares_without_changing_the_map(searcher):
    """Squares already white share one pass, yet the map is captum's Occlusion over every square."""
    import torch
    from captum.attr import Occlusion

    from explain.gradcam import OcclusionMap, to_photo

    photo = open_rgb(first_with_photo(searcher, "Tshirts").image_path)[0].convert("RGB")
    q = searcher.encoder.encode_texts(["t-shirt"])[0]
    occlusion = OcclusionMap(searcher.encoder)
    heat = occlusion(photo, q)
    pixels = searcher.encoder.preprocess(photo).unsqueeze(0)
    white = float(pixels.max())
    assert int(occlusion.squares(pixels, white).max()) + 1 < 64    # fewer passes than squares
    with torch.no_grad():
        every = Occlusion(occlusion._similarity).attribute(
            pixels, sliding_window_shapes=(3, 16, 16), strides=(3, 16, 16),
            baselines=white, perturbations_per_eval=64)[0].sum(0).numpy()
    every = np.maximum(every, 0) / every.max()
    assert np.allclose(heat.cam, to_photo(searcher.encoder, every, photo), atol=1e-5)


def test_heatmap_region_in_words(searcher):
    from explain.gradcam import HeatMap

    photo = open_rgb(first_with_photo(searcher, "Tshirts").image_path)[0]
    h, w = photo.height, photo.width
    rows, cols = np.nonzero((np.asarray(photo) < 240).any(-1))
    tall, wide = (rows.max() - rows.min()) // 4, (cols.max() - cols.min()) // 4
    top_left, bottom_right = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    top_left[rows.min():rows.min() + tall, cols.min():cols.min() + wide] = 1.0
    bottom_right[rows.max() - tall:rows.max() + 1, cols.max() - wide:cols.max() + 1] = 1.0
    assert HeatMap(top_left, 0.5, 0.0, 32).region(photo) == "the top left"
    assert HeatMap(bottom_right, 0.5, 0.0, 32).region(photo) == "the bottom right"
    spread = np.random.default_rng(0).random((h, w)).astype(np.float32)
    assert HeatMap(spread, 0.5, 0.0, 32).region(photo) == "all over the product"
    assert HeatMap(np.zeros((h, w), np.float32), 0.5, 0.0, 32).region(photo) is None


def test_a_product_stands_out_from_the_others_shown(searcher):
    from dataclasses import replace

    from explain.evidence import standout

    shirts = [searcher.index.product(i) for i in searcher.index.all_ids()
              if searcher.index.product(i).article_type == "Tshirts"][:4]
    base = [replace(p, colour="Black", brand="Puma", usage="Casual", price=999.0, attributes={})
            for p in shirts]
    odd = replace(base[0], colour="Red", attributes={"Fabric": "Linen"}, price=499.0)
    said = standout(odd, [odd, *base[1:]])
    assert (said.shown, said.values, said.cheapest) == (4, {"colour": "Red", "fabric": "Linen"}, (499.0, 999.0))
    alike = standout(base[1], [odd, *base[1:]])
    assert alike.values == {} and alike.cheapest is None
    assert standout(odd, [odd, base[1]]) is None                 # one other: nothing to stand out from


def test_integrated_gradients_heatmap_marks_what_removal_hurts(searcher):
    """The selectable pixel-level map (integrated gradients along both removals) keeps negative
    weights below its "no effect" value, and removing its top fifth hurts more than the reverse."""
    from explain.gradcam import IntegratedGradientsMap

    product = first_with_photo(searcher, "Tshirts")
    photo = open_rgb(product.image_path)[0]
    q = searcher.encoder.encode_texts([product.title])[0]
    heat = IntegratedGradientsMap(searcher.encoder)(photo, q)
    assert heat.cam.shape == (photo.height, photo.width)
    assert 0 <= heat.cam.min() < heat.zero < heat.cam.max() <= 1 and not heat.empty
    first, = image_deletions(searcher.encoder, photo, heat.cam, q, fractions=(0.2,))
    reverse, = image_deletions(searcher.encoder, photo, 1 - heat.cam, q, fractions=(0.2,))
    assert first.comprehensiveness > reverse.comprehensiveness


def test_searches_during_an_explanation_are_unaffected(searcher):
    """Attributions hook into the towers; other users' searches run meanwhile and must see the
    plain model (the explainer works on its own copy)."""
    import threading

    explainer = Explainer(searcher, steps=16)
    expected = searcher.encoder.encode_texts(["black backpack"])
    result = searcher.text("sports shoes", 1)[0]
    done = threading.Event()

    def explain():
        for _ in range(3):
            explainer(Query("text", text="sports shoes for men"), result)
        done.set()

    worker = threading.Thread(target=explain)
    worker.start()
    seen = []
    while not done.is_set():
        seen.append(searcher.encoder.encode_texts(["black backpack"]))
    worker.join()
    assert len(seen) > 5 and all(np.allclose(v, expected, atol=1e-5) for v in seen)
