"""The ``mereo`` command line: a thin dispatcher to the modules that own each command.

Each target is ``"module:function"`` taking ``argv: list[str]`` and returning an exit code;
modules import their heavy dependencies inside the function, so ``mereo --help`` is fast.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
from collections.abc import Sequence
from typing import Any

from mereo.errors import MereoError

# command -> target, or command -> {subcommand: target}
COMMANDS: dict[str, str | dict[str, str]] = {
    "ask": "mereo.agent.cli:ask_main",
    "demo": "mereo.agent.cli:demo_main",
    "graph": "mereo.knowledge.cli:main",
    "data": "mereo.data.synthparts.cli:main",
    "train": {
        "encoder": "mereo.tools.encoder.training.train:main",
        "segment": "mereo.tools.segment.training.train:main",
        "correspond": "mereo.tools.correspond.training.train:main",
        "recognize": "mereo.tools.recognize.training.train:main",
        "coseg": "mereo.tools.coseg.training.train:main",
    },
    "eval": {
        "segment": "mereo.tools.segment.training.evaluate:main",
        "correspond": "mereo.tools.correspond.training.evaluate:main",
        "recognize": "mereo.tools.recognize.training.evaluate:main",
        "coseg": "mereo.tools.coseg.training.evaluate:main",
        "agent": "mereo.evals.cli:main",
        "synthparts-partonomy": "mereo.evals.cli:main",
        "synthparts-pairs": "mereo.evals.cli:main",
        "synthparts-multistep": "mereo.evals.cli:main",
        "synthparts-checks": "mereo.evals.cli:main",
        "partonomy-core": "mereo.evals.cli:main",
        "mixedparts": "mereo.evals.cli:main",
    },
    "ablate": "mereo.evals.ablate:main",
    "report": "mereo.evals.report:main",
    "calibrate": "mereo.evals.calibrate:main",
    "bench": {
        "agent": "mereo.agent.cli:bench_main",
        "eval": "mereo.evals.cli:bench_main",
        "data": "mereo.data.synthparts.cli:bench_main",
        "concurrency": "mereo.agent.stress:concurrency_main",
        "memory": "mereo.agent.stress:memory_main",
        "startup": "mereo.agent.startup:main",
    },
}
# order in which `mereo train all` trains: the shared encoder first (the tools' heads read it),
# coseg reads the trained encoders of the others
TRAIN_ORDER = ("encoder", "segment", "correspond", "recognize", "coseg")
DEFAULT_SUB = {"bench": "agent"}
# these commands receive their subcommand name as argv[0] (the runner serves several suites)
PASS_SUB = {
    "eval": {
        "agent",
        "synthparts-partonomy",
        "synthparts-pairs",
        "synthparts-multistep",
        "synthparts-checks",
        "partonomy-core",
        "mixedparts",
    }
}

USAGE = """usage: mereo <command> [args]

commands:
  ask      answer a question about images:  mereo ask --image a.png --image b.png "question"
  demo     answer a handful of questions on bundled SynthParts images and write pictures
  graph    the part hierarchy of objects:   mereo graph chair stool
  data     SynthParts: mereo data synthparts --split test --n 500 --out DIR | data stats DIR
  train    train a small model: mereo train encoder|segment|correspond|recognize|coseg|all
  eval     evaluate: mereo eval segment|coseg|correspond|recognize|agent|synthparts-*|
           partonomy-core|mixedparts
  ablate   run a backend grid:  mereo ablate SUITE --grid segment=plum-small,oracle ...
  report   turn an eval run into report.md + plots + a gallery:  mereo report DIR
  calibrate  fit the agent's verification thresholds and confidence map on SynthParts val
  bench    timings: mereo bench [agent|eval|data|startup]; robustness: mereo bench concurrency|memory

`mereo <command> --help` shows a command's options.
"""


def _load(target: str):
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def captured_help(func: Any, argv: list[str]) -> str:
    """What ``func(argv)`` (a command's main, given ``--help``) prints, without exiting."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            func(argv)
        except SystemExit:
            pass
    return buf.getvalue().rstrip()


def _group_help(cmd: str, subs: Sequence[str]) -> str:
    """Each subcommand of ``cmd`` with its full options (what ``mereo <cmd> <sub> --help`` prints)."""
    target = COMMANDS[cmd]
    assert isinstance(target, dict)
    parts = []
    for sub in subs:
        argv = [sub, "--help"] if sub in PASS_SUB.get(cmd, ()) else ["--help"]
        parts.append(f"== mereo {cmd} {sub}\n{captured_help(_load(target[sub]), argv)}")
    return "\n\n".join(parts)


def _print_group_help(cmd: str) -> None:
    target = COMMANDS[cmd]
    assert isinstance(target, dict)
    extra = "|all" if cmd == "train" else ""
    default = f" (default: {DEFAULT_SUB[cmd]})" if cmd in DEFAULT_SUB else ""
    print(f"usage: mereo {cmd} {{{'|'.join(target)}{extra}}} [options]{default}\n")
    if cmd == "train":
        print(
            f"`mereo train all [--serial] [options]` runs {', '.join(TRAIN_ORDER)} (the encoder in three "
            "stages, the older tools on the other core meanwhile) with the same options.\n"
        )
    print(_group_help(cmd, list(dict.fromkeys(target))))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    cmd, rest = args[0], args[1:]
    if cmd not in COMMANDS:
        print(f"mereo: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    target = COMMANDS[cmd]
    try:
        if isinstance(target, dict):
            if rest and rest[0] in ("-h", "--help"):
                _print_group_help(cmd)
                return 0
            if not rest or rest[0].startswith("-"):
                if cmd in DEFAULT_SUB:
                    rest = [DEFAULT_SUB[cmd], *rest]
                else:
                    print(
                        f"usage: mereo {cmd} {{{'|'.join(target)}{'|all' if cmd == 'train' else ''}}} ...",
                        file=sys.stderr,
                    )
                    return 2
            sub, rest = rest[0], rest[1:]
            if cmd == "train" and sub == "all":
                from mereo import train_all

                if any(a in ("-h", "--help") for a in rest):
                    print(f"usage: mereo train all [--serial] [options]\n\n{train_all.__doc__}")
                    print(_group_help("train", TRAIN_ORDER))
                    return 0
                serial = "--serial" in rest
                return train_all.run(
                    [a for a in rest if a != "--serial"],
                    lambda name, argv: int(_load(target[name])(argv) or 0),
                    serial=serial,
                )
            if sub not in target:
                print(
                    f"mereo {cmd}: unknown {cmd} target {sub!r}; choose from {', '.join(target)}",
                    file=sys.stderr,
                )
                return 2
            if sub in PASS_SUB.get(cmd, ()):
                rest = [sub, *rest]
            return int(_load(target[sub])(rest) or 0)
        return int(_load(target)(rest) or 0)
    except MereoError as e:
        print(f"mereo: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mereo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
