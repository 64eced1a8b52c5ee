"""``mereo graph chair stool``: print objects' parts with their sources, shared and unique parts,
and draw the hierarchy to a PNG."""

from __future__ import annotations

import argparse
import difflib
import json
from pathlib import Path

from mereo.errors import UnknownObjectError
from mereo.knowledge.drawing import draw_hierarchy
from mereo.knowledge.grounding import ground, nearest
from mereo.knowledge.hierarchy import PartHierarchy

#: Embedding neighbours below this cosine similarity are not offered as suggestions.
SUGGEST_MIN_SIMILARITY = 0.5


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mereo graph",
        description=(
            "Show the part hierarchy of one or more objects: each object's parts with the taxonomy "
            "sources that list them, the parts they share and each one's unique parts."
        ),
    )
    p.add_argument("objects", nargs="*", help="object names, e.g. chair stool")
    p.add_argument("--out", default="graph.png", help="PNG file for the picture (default: graph.png)")
    p.add_argument("--no-png", action="store_true", help="do not draw the picture")
    p.add_argument("--json", default=None, help="also write the subgraph as networkx node-link JSON here")
    p.add_argument(
        "--source",
        action="append",
        default=None,
        help="only parts from this taxonomy source (repeatable), e.g. --source PACO-LVIS",
    )
    p.add_argument("--list", action="store_true", help="list the known objects and sources, then exit")
    return p


def resolve_object(kb: PartHierarchy, name: str) -> str:
    """Ground an object name in the knowledge base or raise with close suggestions.

    Raises:
        UnknownObjectError: no grounding rule matched; the message lists close object names.
    """
    vocab = kb.object_vocabulary()
    g = ground(name, kind="object", vocabulary=vocab)
    if g is not None:
        if g.rule not in ("exact", "lemma"):
            print(f"({name!r} read as {g.term!r}: {g.rule} match, score {g.score:.2f})")
        return g.term
    close = difflib.get_close_matches(name.lower(), vocab, n=3, cutoff=0.6)
    close += [t for t, s in nearest(name, vocab, k=3) if s >= SUGGEST_MIN_SIMILARITY]
    raise UnknownObjectError(kb.unknown_object_message(name, list(dict.fromkeys(close))))


def _print_listing(kb: PartHierarchy) -> None:
    print(f"sources: {', '.join(kb.sources())}")
    for obj in kb.objects():
        print(f"  {obj}: {len(kb.parts_of(obj))} parts")


def main(argv: list[str]) -> int:
    """Entry point of ``mereo graph``; returns the exit code."""
    args = _parser().parse_args(argv)
    kb = PartHierarchy.default()
    if args.list:
        _print_listing(kb)
        return 0
    if not args.objects:
        _parser().print_usage()
        print("mereo graph: name at least one object, e.g. `mereo graph chair stool`")
        return 2
    sources = args.source
    names = list(dict.fromkeys(resolve_object(kb, o) for o in args.objects))
    parts = {o: kb.parts_of(o, sources) for o in names}
    for o in names:
        cats = kb.categories(o)
        print(f"{o}" + (f"  (is a: {', '.join(cats)})" if cats else ""))
        if not parts[o]:
            print("  (no parts" + (f" from {', '.join(sources)})" if sources else ")"))
        width = max((len(p) for p in parts[o]), default=0)
        for p in parts[o]:
            prov = sorted(kb.provenance(o, p).items())
            print(f"  {p:<{width}}  {', '.join(s if c == 1 else f'{s} ({c:.2f})' for s, c in prov)}")
    if len(names) > 1:
        shared = sorted(set.intersection(*(set(parts[o]) for o in names)))
        print(f"shared by {' and '.join(names)}: {', '.join(shared) or '(none)'}")
        for o in names:
            others = set().union(*(parts[x] for x in names if x != o))
            print(f"only {o}: {', '.join(sorted(set(parts[o]) - others)) or '(none)'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(kb.to_node_link(names), indent=1), encoding="utf-8")
        print(f"wrote {args.json}")
    if not args.no_png:
        out = draw_hierarchy(kb, names, args.out, sources=sources)
        print(f"wrote {out}")
    return 0
