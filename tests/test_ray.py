"""The build on Ray Data and the sharded index on Ray actors, on a real local Ray (this machine's
CPUs): each must give what the local build and a single index give."""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def with_broken_photo(catalog, tmp_path):
    """The catalogue with one product's photo replaced by bytes that are not an image."""
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    catalog.products[3] = dataclasses.replace(catalog.products[3], image_path=str(bad))
    return catalog


def test_ray_build_equals_the_local_build(local_ray, myntra, tmp_path):
    from retrieval import FeatureCache, IngestReport, ProductIndex, RayEngine, build_index, load_catalog

    built = {}
    for name, engine in (("local", None), ("ray", RayEngine(workers=2))):
        catalog = with_broken_photo(load_catalog(myntra, limit=40), tmp_path)
        build_index(catalog, tmp_path / name, cache=FeatureCache(tmp_path / f"{name}.sqlite"),
                    engine=engine)
        built[name] = ProductIndex.load(tmp_path / name)
    local, distributed = built["local"], built["ray"]
    assert local.all_ids() == distributed.all_ids() and len(local) == 40
    for modality in ("image", "text"):
        assert np.allclose(getattr(local.embeddings, modality), getattr(distributed.embeddings, modality),
                           atol=1e-3)
    assert not distributed.embeddings.has_image[3]          # the broken photo: no image vector
    reports = [str(i) for i in local.load_part(IngestReport).issues], \
              [str(i) for i in distributed.load_part(IngestReport).issues]
    assert reports[0] == reports[1] and any("broken.jpg" in r for r in reports[1])


def test_sharded_index_answers_like_the_single_index(local_ray, catalog, index_dir, searcher, tmp_path):
    """The shared index's own vectors resharded into 3 shards on Ray actors (``python -m retrieval
    reshard``): a Searcher over it (unchanged code) finds exactly what an exact search over the
    same vectors finds, and at least what the single HNSW index finds, with filters and
    exclusions; adds and removes go to the owning shard and survive a save and load; resharding
    back to one index gives the same answers."""
    from retrieval import Features, Filters, ProductIndex, Searcher, cli

    folder = tmp_path / "sharded"
    shutil.copytree(index_dir, folder)
    assert cli.main(["reshard", "--index", str(folder), "--shards", "3"]) in (0, None)
    sharded = Searcher(folder)
    assert sharded.index.shards == 3 and len(sharded.index) == len(searcher.index)
    counts = [s["count"] for s in sharded.index.hnsw.stats()]
    assert sum(counts) == len(catalog.products) and min(counts) > 0
    single, index = searcher.index, sharded.index

    def ids(results):
        return [r.id for r in results]

    for query in ("navy blue shirt", "black sports shoes", "red dress", "leather wallet"):
        vector = searcher.text_vector(query)
        for filters in (None, Filters(gender="Men")):
            truth = ids(single.search(vector, 10, filters, exact=True))
            found = ids(index.search(vector, 10, filters))
            assert found == truth, (query, filters)
            assert len(set(ids(single.search(vector, 10, filters))) & set(truth)) <= len(set(found) & set(truth))
        nearest = ids(single.search(vector, 12, exact=True))
        assert ids(index.search(vector, 10, exclude=nearest[:2])) == nearest[2:]

    gone, kept = index.all_ids()[:2]
    vector = index.vector(gone)
    image, text, has_image, has_text = index.embedding(gone)
    product = index.product(gone)
    index.remove([gone])
    assert gone not in ids(index.search(vector, 5)) and len(index) == len(catalog.products) - 1
    index.add([product], Features(image[None], text[None], np.array([has_image]), np.array([has_text])))
    assert index.search(vector, 1)[0].id == gone
    index.save(folder)
    again = ProductIndex.load(folder)
    assert again.shards == 3 and len(again) == len(catalog.products)
    assert ids(again.search(index.vector(kept), 10)) == ids(index.search(index.vector(kept), 10))
    again.reshard(0)
    assert again.shards == 0 and len(again) == len(catalog.products)
    assert ids(again.search(index.vector(kept), 10, exact=True)) == ids(index.search(index.vector(kept), 10))


def test_served_api_answers_any_turn_from_any_replica(local_ray, index_dir, searcher):
    """The API on Ray Serve with two replicas: the tools answer like the app's (filters hold, an
    unknown product is refused by name), and a conversation goes on whichever replica answers
    each turn (the state lives in the Conversations deployment, not in a replica)."""
    import socket

    import httpx
    from ray import serve

    from ui.serve import application

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(application(str(index_dir), replicas=2, cpus=0.5, planner="parser"),
              name="assistant", route_prefix="/")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            found = http.get("/search", params={"query": "shirt", "k": 4, "gender": "Men"})
            assert found.status_code == 200 and len(found.json()) == 4
            assert {searcher.index.product(p["id"]).gender for p in found.json()} == {"Men"}
            refused = http.get("/similar", params={"product_id": "no-such-id"})
            assert refused.status_code == 400 and "no-such-id" in refused.json()["detail"]

            first = http.post("/chat", json={"message": "show me tshirts for men"})
            assert first.status_code == 200, first.text
            first = first.json()
            session, shown = first["session"], [p["id"] for p in first["products"]]
            assert shown and {searcher.index.product(i).article_type for i in shown} == {"Tshirts"}
            replicas = set()
            for _ in range(20):          # "the first one" needs the last turn's products
                turn = http.post("/chat", json={"message": "more like the first one",
                                                "session": session})
                answer = turn.json()
                assert turn.status_code == 200 and answer["session"] == session, answer
                assert answer["products"] and shown[0] not in [p["id"] for p in answer["products"]]
                shown = [p["id"] for p in answer["products"]]
                replicas.add(turn.headers["X-Replica"])
                if len(replicas) == 2:
                    break
            assert len(replicas) == 2, "every turn went to one replica"
            unknown = http.post("/chat", json={"message": "hello", "session": "forged"}).json()
            assert unknown["session"] != "forged"          # a client never picks a token
    finally:
        serve.shutdown()
