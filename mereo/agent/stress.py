"""``mereo bench concurrency`` and ``mereo bench memory``: robustness checks a user can run.

``concurrency`` asks one agent the same SynthParts questions serially, then from several threads
at once, then from processes forked from the warm agent, and counts errors and answers that
differ from the serial ones (both should be 0). ``memory`` writes decompression-bomb PNGs and
prints the peak memory of loading each, alone and through ``mereo ask``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mereo.agent.cli import _agent, _backend_args

#: the decompression bombs of issue 14 (width, height, mode), and the largest PNG still decoded
BOMBS = ((30000, 29999, "RGBA"), (20000, 20000, "RGB"), (11500, 11500, "RGB"))


def _questions(n: int, seed: int) -> list[tuple[str, list[Any]]]:
    """``n`` SynthParts test questions (one and two images) with their image arrays."""
    from mereo.data.synthparts import generate_scenes
    from mereo.data.synthparts.questions import make_questions

    scenes = list(generate_scenes("test", max(8, n), seed=seed))
    by_uid = {s.uid: s for s in scenes}
    items = []
    for suite in ("pairs", "partonomy"):
        items += make_questions(scenes, suite, seed=seed, per_image=1)
    items = items[::2][: n // 2] + items[1::2][: n - n // 2]
    return [(it.question, [by_uid[str(g.image_id)].image for g in it.images]) for it in items]


def _key(ans: Any) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """What must not change between runs: text, labels and the masks' RLE."""
    return ans.text, tuple(ans.labels), tuple(p.mask.counts for p in ans.parts)


def _run(agent: Any, questions: list[Any], serial: list[Any], ks: list[int]) -> tuple[int, int, list[str]]:
    """Ask questions ``ks`` (indices mod len) in order; (errors, differing, first messages)."""
    errors = differing = 0
    messages: list[str] = []
    for k in ks:
        q, images = questions[k % len(questions)]
        try:
            got = _key(agent.ask(q, images=images))
        except Exception as e:  # counted and reported, the stress test goes on
            errors += 1
            messages.append(f"{type(e).__name__}: {str(e)[:200]}")
            continue
        if got != serial[k % len(questions)]:
            differing += 1
            messages.append(f"differs: {q!r}: {got[0]!r} vs {serial[k % len(questions)][0]!r}")
    return errors, differing, messages


_FORK_STATE: dict[str, Any] = {}


def _forked(ks: list[int]) -> tuple[int, int, list[str]]:
    s = _FORK_STATE
    return _run(s["agent"], s["questions"], s["serial"], ks)


def _tally(results: list[tuple[int, int, list[str]]], head: str, seconds: float) -> tuple[int, int]:
    """Print ``head``, the wall time (s), the errors and differing answers of the workers'
    ``(errors, differing, messages)`` results and their first 5 messages; the two counts."""
    err = sum(r[0] for r in results)
    diff = sum(r[1] for r in results)
    print(f"{head} in {seconds:.1f} s: errors {err}, differing {diff}")
    for m in [m for r in results for m in r[2]][:5]:
        print(f"   {m}")
    return err, diff


def concurrency_main(argv: list[str]) -> int:
    """``mereo bench concurrency``: threads and forked processes sharing one warm agent."""
    p = argparse.ArgumentParser(
        prog="mereo bench concurrency",
        description="Ask one agent from several threads and from forked processes; count errors and "
        "answers that differ from a serial run.",
    )
    p.add_argument("--threads", type=int, default=4, help="threads sharing the agent")
    p.add_argument("--asks", type=int, default=50, help="questions per thread")
    p.add_argument("--procs", type=int, default=2, help="processes forked from the warm agent")
    p.add_argument("--proc-asks", type=int, default=25, help="questions per forked process")
    p.add_argument("--questions", type=int, default=10, help="distinct questions cycled through")
    p.add_argument(
        "--timeout", type=float, default=900.0, help="seconds before a forked process counts as hung"
    )
    p.add_argument("--seed", type=int, default=0)
    _backend_args(p)
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    agent = _agent(args)
    questions = _questions(args.questions, args.seed)
    serial = [_key(agent.ask(q, images=ims)) for q, ims in questions]
    print(f"serial: {len(questions)} questions in {time.perf_counter() - t0:.1f} s (agent built and warm)")

    t = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        jobs = [
            pool.submit(_run, agent, questions, serial, [i + j * args.threads for j in range(args.asks)])
            for i in range(args.threads)
        ]
        results = [j.result() for j in jobs]
    t_err, t_diff = _tally(results, f"threads: {args.threads} x {args.asks} asks", time.perf_counter() - t)

    f_err = f_diff = 0
    if args.procs:
        t = time.perf_counter()
        _FORK_STATE.update(agent=agent, questions=questions, serial=serial)
        ctx = mp.get_context("fork")
        with ctx.Pool(args.procs) as pool:
            parts = [[i + j * args.procs for j in range(args.proc_asks)] for i in range(args.procs)]
            pending = pool.map_async(_forked, parts)
            try:
                fres = pending.get(timeout=args.timeout)
            except mp.TimeoutError:
                fres = [(args.proc_asks, 0, [f"hung: no answer within {args.timeout:.0f} s"])] * args.procs
                pool.terminate()
        head = f"forked: {args.procs} processes x {args.proc_asks} asks"
        f_err, f_diff = _tally(fres, head, time.perf_counter() - t)
    total = t_err + t_diff + f_err + f_diff
    print(f"total: errors {t_err + f_err}, differing {t_diff + f_diff}")
    return 1 if total else 0


_MEMORY_PROBE = """
import sys, time
from mereo.images import peak_rss_mb
mode, path = sys.argv[1], sys.argv[2]
agent = None
if mode == "ask":
    from mereo.agent.agent import PartAgent
    agent = PartAgent()
    from mereo.types import ImageRef
else:
    from mereo.types import ImageRef
base = peak_rss_mb()
try:
    if agent is None:
        ImageRef(path)
    else:
        agent.ask("What visible parts does the chair in the image have?", images=[path])
    outcome = "loaded"
except Exception as e:
    outcome = f"{type(e).__name__}: {str(e)[:150]}"
print(f"{base:.0f} {peak_rss_mb():.0f} {outcome}")
"""


def memory_main(argv: list[str]) -> int:
    """``mereo bench memory``: peak memory of loading decompression-bomb PNGs."""
    p = argparse.ArgumentParser(
        prog="mereo bench memory",
        description="Write decompression-bomb PNGs (a few MB on disk, GBs decoded) and print the peak "
        "memory of ImageRef(path) and of `agent.ask` on each, above the process's own.",
    )
    p.add_argument("--dir", help="folder for the bomb files (a temporary one by default)")
    p.add_argument("--limit-mb", type=float, default=1024.0, help="allowed growth of the peak (MB)")
    p.add_argument("--no-ask", action="store_true", help="only ImageRef, not agent.ask")
    args = p.parse_args(argv)
    from mereo.images import write_blank_png

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for w, h, mode in BOMBS:
            path = folder / f"bomb_{w}x{h}_{mode}.png"
            if not path.exists():
                write_blank_png(path, w, h, mode)
            size = path.stat().st_size / 1e6
            for how in ("imageref", *(() if args.no_ask else ("ask",))):
                env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
                out = subprocess.run(
                    [sys.executable, "-c", _MEMORY_PROBE, how, str(path)],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=600,
                )
                if out.returncode:
                    print(f"{path.name}: probe failed: {out.stderr[-500:]}")
                    ok = False
                    continue
                base, peak, outcome = out.stdout.strip().splitlines()[-1].split(" ", 2)
                grown = float(peak) - float(base)
                ok &= grown <= args.limit_mb
                print(
                    f"{path.name} ({size:.2f} MB on disk, {how}): peak {float(peak):.0f} MB, "
                    f"{grown:+.0f} MB above the process's own {float(base):.0f} MB -> {outcome}"
                )
    print(f"bound: {args.limit_mb:.0f} MB above the process's own: {'met' if ok else 'EXCEEDED'}")
    return 0 if ok else 1
