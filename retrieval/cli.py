"""``python -m retrieval``: build an index, search it, complete a look, recommend from a history,
train the image-text alignment."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC
from pathlib import Path

from .build.encoders import DEFAULT_ENCODER
from .settings import DEMO_LIMIT, demo_index_dir

USER_ERROR = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _filters(args):
    from .store.index import Filters

    return Filters(gender=args.gender, category=args.category, colour=args.colour,
                   price_min=args.price_min, price_max=args.price_max)


def cmd_build(args) -> None:
    from .build.encoders import create_encoder
    from .build.pipeline import BuildStats, build_index
    from .ingest import IngestReport, load_catalog

    if args.engine == "local" and (args.address or args.workers or args.gpus):
        raise UsageError("--address, --workers and --gpus need --engine ray")
    stats = BuildStats()
    engine = None
    if args.engine == "ray":
        from .build.raydata import RayEngine

        with stats.stage("start ray"):
            engine = RayEngine(args.address, args.workers, gpus=args.gpus)
    with stats.stage("load encoder"):
        encoder = create_encoder(args.encoder, args.pretrained, args.text_tower)
    with stats.stage("ingest"):
        catalog = load_catalog(args.catalog, limit=args.limit, image_roots=args.images)
    if (args.kind_photos is None) != (args.kind_map is None):
        raise UsageError("--kind-photos and --kind-map go together")
    kind_photos = kind_map = None
    if args.kind_photos is not None:
        from .build.kinds import read_kind_map

        try:
            kind_map = read_kind_map(args.kind_map)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--kind-map: {exc}") from None
        kind_photos = load_catalog(args.kind_photos, check_images=False)
        print(f"kind photos from {args.kind_photos}: {kind_photos.report.summary()}")
    index = build_index(catalog, args.out, limit=args.limit, encoder=encoder,
                        fusion=args.fusion, align=False if args.no_align else None, stats=stats,
                        engine=engine, shards=args.shards, kind_photos=kind_photos,
                        kind_map=kind_map)
    print(f"indexed {len(index)} products into {args.out} ({index.generation.name})")
    print(stats.summary())
    print("ingest report:", index.load_part(IngestReport).summary())
    print(f"every reported row: {index.part_path(IngestReport)}")


def cmd_search(args) -> None:
    from .query.search import Searcher

    if args.k < 1:
        raise UsageError("--k must be at least 1")
    if args.modifier is not None and args.text is not None:
        raise UsageError("--modifier needs a reference: --item ID or --image PATH")
    searcher = Searcher(args.index)
    filters = _filters(args)
    if args.modifier is not None:
        composed = searcher.composed(args.modifier, args.item, args.image, args.k, filters)
        if args.json:
            print(json.dumps(composed.to_json()))
            return
        print("constraints: " + ("; ".join(composed.modifier.describe()) or "none") +
              f" (query text: {composed.query_text!r})")
        results = composed.results
    elif args.text is not None:
        results = searcher.text(args.text, args.k, filters)
    elif args.image is not None:
        found = searcher.image(args.image, args.k, filters)
        results, kind = found.results, found.kind
    else:
        results = searcher.item(args.item, args.k, filters)
    if args.json:
        print(json.dumps({"results": [r.to_json() for r in results],
                          **({"kind": kind} if args.image is not None else {})}))
        return
    if args.image is not None and kind:
        print(f"the photo looks like {kind} ({found.confidence:.0%} sure): those come first")
    _print_results(results)


def _print_results(results) -> None:
    for rank, r in enumerate(results, 1):
        p = r.product
        print(f"{rank:3d}. {r.score:.3f}  {r.id:>10}  {r.title}  "
              f"[{p.gender or '-'} / {p.article_type or '-'} / {p.colour or '-'}]")
    if not results:
        print("no results")


def cmd_complete(args) -> None:
    from .query.search import Searcher

    if args.k < 1:
        raise UsageError("--k must be at least 1")
    given = {f: getattr(args, f) for f in ("style", "complementarity", "popularity", "copurchase",
                                           "pair") if getattr(args, f) is not None}
    if any(v < 0 for v in given.values()):
        raise UsageError("--style, --complementarity, --popularity, --copurchase and --pair "
                         "must not be negative")
    searcher = Searcher(args.index)
    weights = replace(searcher.look_weights, **given)
    look = searcher.complete(args.item, args.image, args.k, weights, args.per_category or None)
    if args.json:
        print(json.dumps(look.to_json()))
        return
    a = look.anchor
    w = look.weights
    print(f"completing {a.id or 'photo'} {a.title or ''} [{a.article_type or '-'}]; "
          f"score = {w.style:g} * style + {w.complementarity:g} * complementarity "
          f"({look.source}) + {w.popularity:g} * popularity + {w.copurchase:g} * co-purchases "
          f"+ {w.pair:g} * pair model")
    for rank, item in enumerate(look.items, 1):
        r = item.result
        print(f"{rank:3d}. {item.score:.3f} (style {item.style:.3f}, compl. {item.complementarity:.3f})"
              f"  {r.id:>10}  {r.title}  [{r.product.article_type or '-'} / {r.product.colour or '-'}]")
    if not look.items:
        print("no compatible products")


def day_number(text: str) -> float:
    """A number of days, or an ISO date / date-time (as days since 1970-01-01)."""
    from datetime import datetime

    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--when {text!r}: not a number of days or an ISO date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() / 86400


def cmd_recommend(args) -> None:
    from .query.search import Searcher

    if args.k < 1:
        raise UsageError("--k must be at least 1")
    if args.when and len(args.when) != len(args.history):
        raise UsageError(f"--when has {len(args.when)} values for {len(args.history)} --history ids")
    days = [day_number(w) for w in args.when] if args.when else None
    results = Searcher(args.index).for_history(args.history, days, args.k, _filters(args))
    if args.json:
        print(json.dumps({"results": [r.to_json() for r in results]}))
        return
    _print_results(results)


def cmd_train_alignment(args) -> None:
    from .build.alignment import text_to_image_scores, train_alignment
    from .build.embed import caption_features, tower_features
    from .build.encoders import create_encoder
    from .ingest import load_catalog
    from .learn.splits import holdout_split

    catalog = load_catalog(args.catalog, limit=args.limit)
    encoder = create_encoder(args.encoder, args.pretrained, args.text_tower)
    feats = tower_features(catalog.products, encoder, report=catalog.report)
    ids = [p.id for p in catalog.products]
    split = holdout_split(ids, args.test_fraction, args.seed)
    train, test = feats.subset(split.train), feats.subset(split.test)
    print(f"{len(split.train)} training items, {len(split.test)} held-out items "
          f"(never trained on)")
    before = text_to_image_scores(encoder, test)
    captions = caption_features(catalog.products, encoder).subset(split.train)
    history = train_alignment(encoder, train, captions, epochs=args.epochs, seed=args.seed)
    after = text_to_image_scores(encoder, test)
    out = encoder.save(args.out)
    print(f"final training loss {history[-1]:.4f}")
    print("held-out text-to-image retrieval")
    print(f"  untrained projection  {before.row()}")
    print(f"  trained alignment     {after.row()}")
    print(f"checkpoint: {out} (open_clip.create_model('local-dir:{out}') loads it)")


def cmd_add(args) -> None:
    from .build.embed import embed_products
    from .ingest import load_catalog
    from .query.search import load_index_encoder
    from .store.index import ProductIndex
    from .store.locks import writer_lock

    with writer_lock(args.index):              # a second writer waits for this one's save
        index = ProductIndex.load(args.index)
        encoder = load_index_encoder(index)
        catalog = load_catalog(args.catalog, limit=args.limit, image_roots=args.images)
        emb = embed_products(catalog.products, encoder, report=catalog.report)
        index.add(catalog.products, emb)
        gen = index.save(args.index, [catalog.report])
    print(f"added {len(catalog.products)} products; index now {len(index)} ({gen.name})")
    print("ingest report:", catalog.report.summary())


def cmd_remove(args) -> None:
    from .store.index import ProductIndex
    from .store.locks import writer_lock

    with writer_lock(args.index):
        index = ProductIndex.load(args.index)
        index.remove(args.id)
        gen = index.save(args.index)
    print(f"removed {len(args.id)} products; index now {len(index)} ({gen.name})")


def cmd_reshard(args) -> None:
    from .store.index import ProductIndex
    from .store.locks import writer_lock

    with writer_lock(args.index):
        index = ProductIndex.load(args.index)
        before = index.shards
        index.reshard(args.shards)
        gen = index.save(args.index)
    print(f"{len(index)} vectors moved from {_held(before)} to {_held(args.shards)} ({gen.name})")


def _held(shards: int) -> str:
    return f"{shards} shards on Ray actors" if shards else "one index in this process"


DEMO_QUERIES = ("navy blue shirt for men", "red handbag for women", "black running shoes")


def cmd_demo(args) -> None:
    from .build.pipeline import BuildStats, build_index
    from .query.search import Searcher
    from .settings import myntra_dir

    catalog = args.catalog or myntra_dir()
    if not Path(catalog).exists():
        raise UsageError(f"{catalog}: demo catalogue not found; set FASHION_DATA or pass --catalog")
    stats = BuildStats()
    print(f"building the demo index: first {args.limit} products of {catalog}")
    build_index(catalog, args.out, limit=args.limit, stats=stats)
    print(stats.summary())
    searcher = Searcher(args.out)
    first = searcher.index.all_ids()[0]
    product = searcher.index.product(first)
    for title, results in [*((f"text: {q!r}", searcher.text(q, 5)) for q in DEMO_QUERIES),
                           (f"item: {first} ({product.title})", searcher.item(first, 5)),
                           (f"photo: {product.image_path}", searcher.image(product.image_path, 5).results)]:
        print(f"\n{title}")
        for rank, r in enumerate(results, 1):
            print(f"  {rank}. {r.score:.3f}  {r.id:>8}  {r.title}")
    print(f"\nindex saved in {args.out}; try: python -m retrieval search --index {args.out} "
          f"--text 'white sneakers'")


def add_filter_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gender", action="append")
    p.add_argument("--category", action="append")
    p.add_argument("--colour", action="append")
    p.add_argument("--price-min", type=float)
    p.add_argument("--price-max", type=float)


def add_images_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", action="append", default=[], metavar="FOLDER",
                   help="a folder the catalogue's image paths may point into besides the "
                        "catalogue's own (repeatable); paths leading anywhere else are not read")


def add_encoder_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoder", default=DEFAULT_ENCODER,
                   help="architecture name, checkpoint folder, or open_clip model name")
    p.add_argument("--pretrained", help="open_clip pretrained tag or file (for open_clip names)")
    p.add_argument("--text-tower", help="Hugging Face / sentence-transformers model folder to use "
                                        "as the text tower of a packaged architecture")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m retrieval", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="index a catalogue")
    b.add_argument("--catalog", required=True, help="catalogue folder or CSV/JSONL file")
    b.add_argument("--out", required=True, help="index folder (created or updated atomically)")
    b.add_argument("--limit", type=int, help="index only the first N products")
    add_images_option(b)
    add_encoder_options(b)
    b.add_argument("--fusion", default=None, choices=["concat", "weighted", "projection"])
    b.add_argument("--no-align", action="store_true",
                   help="do not train the projections even if they are untrained")
    b.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="where photos are decoded and the towers run: this process, or a Ray Data "
                        "pipeline (a local Ray unless --address is given)")
    b.add_argument("--address", help="Ray cluster to run on (e.g. ray://head:10001 or auto)")
    b.add_argument("--workers", type=int, help="Ray actors running the towers (default: one per "
                                               "CPU of the cluster)")
    b.add_argument("--gpus", type=float, default=0, help="GPUs per Ray actor")
    b.add_argument("--shards", type=int, default=0,
                   help="split the vectors over N USearch shards held by Ray actors "
                        "(FASHION_RAY_ADDRESS names the cluster; default: one index in-process)")
    b.add_argument("--kind-photos", help="another shop's catalogue whose photos also teach the "
                                         "classifier that names the kind a shopper's photo shows")
    b.add_argument("--kind-map", help="CSV: the other shop's product type, then our article "
                                      "types of the same kind separated by ';'")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("search", help="search an index")
    s.add_argument("--index", required=True)
    q = s.add_mutually_exclusive_group(required=True)
    q.add_argument("--text")
    q.add_argument("--image", help="path of a photo")
    q.add_argument("--item", help="product id")
    s.add_argument("--modifier", help='with --item or --image: "in linen", "but blue", "cheaper"')
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    add_filter_options(s)
    s.set_defaults(func=cmd_search)

    c = sub.add_parser("complete", help="complete the look: products from compatible categories")
    c.add_argument("--index", required=True)
    q = c.add_mutually_exclusive_group(required=True)
    q.add_argument("--item", help="product id")
    q.add_argument("--image", help="path of a photo")
    c.add_argument("--k", type=int, default=10)
    c.add_argument("--style", type=float, help="weight a of style similarity (default: the "
                   "benchmark's choice for the index, with or without purchase data)")
    c.add_argument("--complementarity", type=float, help="weight b of category complementarity")
    c.add_argument("--popularity", type=float,
                   help="weight c of co-purchase popularity (indexes built with purchase data)")
    c.add_argument("--copurchase", type=float,
                   help="weight d of the anchor's look-alikes' co-purchases (idem)")
    c.add_argument("--pair", type=float, help="weight e of the learned pair model (idem)")
    c.add_argument("--per-category", type=int, default=2,
                   help="at most this many products of one article type (0: no limit)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_complete)

    h = sub.add_parser("recommend", help="recommend from a browsing history")
    h.add_argument("--index", required=True)
    h.add_argument("--history", nargs="+", required=True, help="product ids, oldest first")
    h.add_argument("--when", nargs="+",
                   help="when each product was viewed: ISO dates/times or numbers of days; "
                        "default: only their order counts")
    h.add_argument("--k", type=int, default=10)
    h.add_argument("--json", action="store_true")
    add_filter_options(h)
    h.set_defaults(func=cmd_recommend)

    t = sub.add_parser("train-alignment", help="train the image-text projections (LiT)")
    t.add_argument("--catalog", required=True)
    t.add_argument("--out", required=True, help="checkpoint folder")
    t.add_argument("--limit", type=int)
    add_encoder_options(t)
    t.add_argument("--epochs", type=int, default=None,
                   help="passes over the training photos (default: 30, or 10 when image stages train)")
    t.add_argument("--test-fraction", type=float, default=0.2)
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=cmd_train_alignment)

    a = sub.add_parser("add", help="add or replace products of a catalogue in an index")
    a.add_argument("--index", required=True)
    a.add_argument("--catalog", required=True)
    a.add_argument("--limit", type=int)
    add_images_option(a)
    a.set_defaults(func=cmd_add)

    r = sub.add_parser("remove", help="remove products from an index")
    r.add_argument("--index", required=True)
    r.add_argument("--id", action="append", required=True)
    r.set_defaults(func=cmd_remove)

    rs = sub.add_parser("reshard", help="split an index's vectors over N shards on Ray actors "
                                        "(0: back to one index); the same vectors, a new generation")
    rs.add_argument("--index", required=True)
    rs.add_argument("--shards", type=int, required=True)
    rs.set_defaults(func=cmd_reshard)

    d = sub.add_parser("demo", help="build the demo index and run example searches")
    d.add_argument("--catalog", help="default: the Myntra catalogue under FASHION_DATA")
    d.add_argument("--limit", type=int, default=DEMO_LIMIT)
    d.add_argument("--out", default=str(demo_index_dir()))
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    from .ingest import CatalogError
    from .query.search import QueryError
    from .store.index import IndexConflict, IndexLookupError
    from .store.locks import IndexBusy

    args = parser().parse_args(argv)
    if getattr(args, "fusion", "") is None:
        from .build.pipeline import DEFAULT_FUSION
        args.fusion = DEFAULT_FUSION
    try:
        args.func(args)
    except (UsageError, QueryError, IndexLookupError, CatalogError, IndexBusy, IndexConflict) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USER_ERROR
    return 0
