"""Placeholder `mereo demo | ask | bench agent` until the agent lands (its owner replaces this file).

``mereo demo`` shows the knowledge graph of a chair and a stool, which works without any model.
"""

from __future__ import annotations

from pathlib import Path


def demo_main(argv: list[str]) -> int:
    """Print and draw the part hierarchy of a chair and a stool (``--out DIR``, default ``demo_out``)."""
    import argparse

    from mereo.knowledge.cli import main as graph_main

    p = argparse.ArgumentParser(prog="mereo demo")
    p.add_argument("--out", default="demo_out", help="folder for the pictures")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return graph_main(
        [
            "chair",
            "stool",
            "--out",
            str(out / "graph_chair_stool.png"),
            "--json",
            str(out / "graph_chair_stool.json"),
        ]
    )


def ask_main(argv: list[str]) -> int:
    print("mereo ask: not available yet (the agent is being built); try `mereo graph chair stool`")
    return 2


def bench_main(argv: list[str]) -> int:
    print("mereo bench agent: not available yet (the agent is being built)")
    return 2
