"""Seeding, thread count and the command-line options every trainer has."""

from __future__ import annotations

import argparse

import numpy as np
import torch


def set_threads(threads: int) -> None:
    """Use ``threads`` torch threads (at least 1); results depend on it, so trainers record it."""
    torch.set_num_threads(max(1, int(threads)))


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch's global generator; return a numpy generator seeded the same way."""
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def add_common_args(parser: argparse.ArgumentParser, *, threads: int = 1, seed: int = 0) -> None:
    """Add ``--seed``, ``--threads``, ``--out`` (alias ``--out-dir``) and ``--no-resume``."""
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument(
        "--threads", type=int, default=threads, help=f"torch threads (default {threads}; 1 when shared)"
    )
    parser.add_argument(
        "--out", "--out-dir", dest="out", default=None, help="checkpoint folder (default: mereo/checkpoints)"
    )
    parser.add_argument(
        "--no-resume",
        action="store_true",
        help="start afresh even when a killed run of the same command left a state file",
    )


def setup(args: argparse.Namespace) -> np.random.Generator:
    """Threads from ``args.threads``, then :func:`seed_everything` with ``args.seed``."""
    set_threads(args.threads)
    return seed_everything(args.seed)
