"""Draw the part hierarchy of a few objects as a layered picture (matplotlib, Agg canvas).

Rows from top to bottom: categories, objects, parts, subparts. Parts that two or more of the
drawn objects share are highlighted; parts only one object has take that object's colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mereo.knowledge.hierarchy import PartHierarchy
from mereo.knowledge.lexicon import canonical

OBJECT_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#da8bc3")
SHARED_COLOUR = "#c44e52"
CATEGORY_COLOUR = "#bbbbbb"
SUBPART_COLOUR = "#eeeeee"


def _layout(rows: list[list[str]]) -> dict[str, tuple[float, float]]:
    """x in ``[0, 1]`` spread evenly per row, y from 1 (top row) down to 0."""
    pos: dict[str, tuple[float, float]] = {}
    n = len(rows)
    for r, row in enumerate(rows):
        y = 1.0 - r / max(1, n - 1)
        for i, node in enumerate(row):
            pos[node] = ((i + 1) / (len(row) + 1), y)
    return pos


def _category_levels(kb: PartHierarchy, names: list[str], max_levels: int = 3) -> dict[str, int]:
    """Category -> its longest is_a distance from the objects (at most ``max_levels``), for row order."""
    levels: dict[str, int] = {}
    for o in names:
        frontier, d = [f"object:{o}"], 0
        while frontier and d < max_levels:
            d += 1
            frontier = [
                v for u in frontier for _, v, e in kb.graph.out_edges(u, data=True) if e["relation"] == "is_a"
            ]
            for v in frontier:
                name = kb.graph.nodes[v]["name"]
                levels[name] = max(levels.get(name, d), d)
    return levels


def draw_hierarchy(
    kb: PartHierarchy,
    objects: Sequence[str],
    path: str | Path,
    *,
    dpi: int = 100,
    sources: Sequence[str] | None = None,
) -> Path:
    """Write a PNG of the objects' categories, parts and subparts.

    Args:
        kb: the knowledge base.
        objects: one or more object names (unknown ones raise ``UnknownObjectError``).
        path: output file; parent folders are created.
        dpi: resolution; the figure is sized from the number of nodes (about 1.1 inch per part).
        sources: only draw parts supported by these taxonomy sources (all by default).

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(dict.fromkeys(canonical(o) for o in objects))
    parts = {o: kb.parts_of(o, sources) for o in names}
    owners: dict[str, list[str]] = {}
    for o in names:
        for p in parts[o]:
            owners.setdefault(p, []).append(o)
    shared = {p for p, os in owners.items() if len(os) > 1}
    # order parts: each object's own parts, with the shared ones in the middle
    ordered: list[str] = []
    half = (len(names) + 1) // 2
    for o in names[:half]:
        ordered += [p for p in parts[o] if p not in shared and p not in ordered]
    ordered += sorted(shared)
    for o in names[half:]:
        ordered += [p for p in parts[o] if p not in shared and p not in ordered]
    subs = {p: kb.subparts_of(p) for p in ordered}
    sub_row = list(dict.fromkeys(s for p in ordered for s in subs[p] if s not in owners))
    levels = _category_levels(kb, names)
    cat_rows = [
        [f"category:{c}" for c in sorted(levels) if levels[c] == d]
        for d in range(max(levels.values(), default=0), 0, -1)
    ]

    rows = [*cat_rows, [f"object:{o}" for o in names], [f"part:{p}" for p in ordered]]
    if sub_row:
        rows.append([f"sub:{s}" for s in sub_row])
    rows = [r for r in rows if r]
    pos = _layout(rows)

    width = max(6.0, 1.1 * max(len(r) for r in rows))
    fig = Figure(figsize=(width, 1.6 * len(rows) + 1.0), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.15, 1.15)

    def line(a: str, b: str, colour: str) -> None:
        if a in pos and b in pos:
            (x0, y0), (x1, y1) = pos[a], pos[b]
            ax.plot([x0, x1], [y0, y1], color=colour, linewidth=1.0, alpha=0.6, zorder=1)

    for i, o in enumerate(names):
        colour = OBJECT_COLOURS[i % len(OBJECT_COLOURS)]
        for p in parts[o]:
            line(f"object:{o}", f"part:{p}", SHARED_COLOUR if p in shared else colour)
    for u, v, d in kb.subgraph(names).edges(data=True):
        if d["relation"] == "is_a":
            line(u, v, CATEGORY_COLOUR)
    for p in ordered:
        for s in subs[p]:
            line(f"part:{p}", f"sub:{s}", "#999999")  # subparts that are also parts stay unlinked

    def label_colour(node: str) -> str:
        kind, _, name = node.partition(":")
        if kind == "object":
            return OBJECT_COLOURS[names.index(name) % len(OBJECT_COLOURS)]
        if kind == "part":
            if name in shared:
                return SHARED_COLOUR
            return OBJECT_COLOURS[names.index(owners[name][0]) % len(OBJECT_COLOURS)]
        return CATEGORY_COLOUR if kind == "category" else SUBPART_COLOUR

    for node, (x, y) in pos.items():
        kind, _, name = node.partition(":")
        face = label_colour(node)
        dark = kind in ("object", "part")
        ax.text(
            x,
            y,
            name.replace(" ", "\n"),
            ha="center",
            va="center",
            zorder=2,
            fontsize=11 if kind == "object" else 8,
            fontweight="bold" if kind == "object" else "normal",
            color="white" if dark else "black",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": face, "edgecolor": "none"},
        )
    title = " vs ".join(names) if len(names) > 1 else names[0]
    ax.set_title(
        f"part hierarchy: {title}  (red = shared parts: {', '.join(sorted(shared)) or 'none'})", fontsize=10
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", bbox_inches="tight")
    return out
