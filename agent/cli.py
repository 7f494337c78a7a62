"""``python -m agent``: a terminal chat, one turn per line of stdin. ``--json`` prints one JSON
object per turn (message, products, trace) so the agent can be scripted. A line may start with
``photo: PATH`` to upload a photo with the rest of the line."""
from __future__ import annotations

import argparse
import json
import sys

from retrieval import demo_index_dir

from .assistant import DEFAULT_PLANNER, PLANNERS, ShoppingAgent


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m agent", description=__doc__.split("\n")[0])
    ap.add_argument("--index", default=str(demo_index_dir()),
                    help="index folder (default: the demo index of `python -m retrieval demo`)")
    ap.add_argument("--planner", choices=PLANNERS, default=DEFAULT_PLANNER,
                    help="keyword patterns, the trained turn model (default), the model then the "
                         "LLM for turns it is unsure of, or LLM first")
    ap.add_argument("--explanations", choices=("llm", "template"), default="llm",
                    help="how an explained product's explanation is written")
    ap.add_argument("-k", type=int, default=6, help="products per answer")
    ap.add_argument("--json", action="store_true", help="one JSON object per turn")
    return ap


def split_photo(line: str) -> tuple[str, str | None]:
    if line.startswith("photo:"):
        path, _, rest = line[len("photo:"):].strip().partition(" ")
        return rest, path
    return line, None


def show(answer, as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
        return
    print(answer.message)
    for i, card in enumerate(answer.cards, 1):
        price = f"  {card.price:g}" if card.price is not None else ""
        print(f"  {i}. {card.title} [{card.id}]{price}  score {card.score:.3f}")
        print(f"     {card.explanation}")
    print(f"  ({answer.trace.decided_by}; {', '.join(t.name for t in answer.trace.tools) or 'no tool'}"
          f"; {answer.trace.seconds:.2f}s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from retrieval import IndexLookupError, Searcher

    try:
        searcher = Searcher(args.index)
    except IndexLookupError as exc:
        print(f"error: {exc} (build one with `python -m retrieval demo` or "
              "`python -m retrieval build`)", file=sys.stderr)
        return 2
    agent = ShoppingAgent(searcher, args.planner, args.explanations, args.k)
    interactive = sys.stdin.isatty() and not args.json
    if interactive:
        print("Ask for something (\"navy shirts for men\"); Ctrl-D to leave.")
    for line in sys.stdin:
        text, photo = split_photo(line.strip())
        if not text and photo is None:
            continue
        show(agent.turn(text, photo), args.json)
    return 0
