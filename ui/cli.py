"""``python -m ui``: serve the app (default: the demo index, built first if missing). ``--demo``
first prints a short scripted conversation with the assistant in the terminal."""
from __future__ import annotations

import argparse

from agent import DEFAULT_PLANNER, PLANNERS
from explain.ratings import default_path

DEMO_TURNS = ("show me tshirts for men", "only black ones", "more like the second one",
              "what goes with the first one?", "why the first one?")


def demo_conversation(agent) -> None:
    """The scripted turns, each with the assistant's answer and its first products."""
    for text in DEMO_TURNS:
        answer = agent.turn(text)
        print(f"\nshopper> {text}\nassistant> {answer.message}")
        for i, card in enumerate(answer.cards[:3], 1):
            price = f"  ₹{card.price:,.0f}" if card.price is not None else ""
            print(f"   {i}. {card.title}{price}")
        if answer.trace.intent == "explain" and answer.cards:
            print(f"   evidence: {', '.join(answer.cards[0].evidence.get('shared', {}).values())}")
    print(flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ui", description=__doc__)
    p.add_argument("--index", help="index folder (default: the demo index)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default 7860 (8000 with --ray-serve)")
    p.add_argument("--root-path", default=None, help="URL prefix when served behind a proxy")
    p.add_argument("--ratings", default=None, help=f"SQLite file of analyst ratings and shoppers' "
                                                   f"thumbs (default: FASHION_RATINGS or {default_path()})")
    p.add_argument("--analysts", default=None,
                   help="file of name:password lines, one per analyst (default: FASHION_ANALYSTS); "
                        "the analyst area at /analyst/ is served only with one")
    p.add_argument("--frame-ancestors", default=None,
                   help="space-separated origins that may embed the app in a frame (default: "
                        "FASHION_FRAME_ANCESTORS, else the app's own origin only)")
    p.add_argument("--planner", choices=PLANNERS, default=DEFAULT_PLANNER,
                   help="how a chat turn is understood (see `python -m agent --help`)")
    p.add_argument("--explain-ahead", action=argparse.BooleanOptionalAction, default=True,
                   help="after each answer, explain its products at the lowest priority so that "
                        "'why?' answers at once (default: on)")
    p.add_argument("--demo", action="store_true",
                   help="print a short scripted conversation before serving")
    p.add_argument("--ray-serve", action="store_true",
                   help="serve the tools and the chat as an HTTP API on Ray Serve instead of the "
                        "browser app (FASHION_RAY_ADDRESS or --address names the cluster)")
    p.add_argument("--replicas", type=int, default=2, help="with --ray-serve: API replicas")
    p.add_argument("--cpus", type=float, default=1.0, help="with --ray-serve: CPUs per replica")
    p.add_argument("--gpus", type=float, default=0.0, help="with --ray-serve: GPUs per replica")
    p.add_argument("--address", default=None, help="with --ray-serve: the Ray cluster's address")
    args = p.parse_args(argv)
    if args.ray_serve:
        from .serve import run

        run(args.index, args.host, args.port or 8000, args.replicas,
            args.cpus, args.gpus, args.planner, args.address)
        return 0
    from agent import ShoppingAgent

    from .server import launch, resources

    res = resources(args.index, args.ratings, args.planner, args.explain_ahead)
    if args.demo:
        demo_conversation(ShoppingAgent(res.searcher, args.planner, "template",
                                        explainer=res.explainer))
    launch(res, args.host, args.port or 7860, args.root_path, args.analysts, args.frame_ancestors)
    return 0
