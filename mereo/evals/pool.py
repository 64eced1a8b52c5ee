"""The eval runner's worker pool: the main process and K-1 helper processes share a task list.

With ``--workers K`` the main process, already warm, is one of the K workers: it sets itself up
and starts on the tasks at once, while K-1 helper processes start; every process takes the next
unclaimed task from a shared counter, and the helpers send their results back, so only the main
process writes them. Helpers are forked from the main process after it has set itself up (no
imports, no second build) when each process runs one torch thread (the default on 2 cores with
2 workers: OpenMP hangs in a forked child that asks for more threads); otherwise they are
spawned and set themselves up. Tasks a helper took but never sent back (it died) are redone by
the main process.

The pool knows nothing about evals: :func:`run_shared` takes a ``setup`` function (run once per
process) and a ``work`` function (run once per task), both module-level so that a spawned helper
can import them.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

Work = Callable[[Any], Any]


def helper_start_method(threads: int) -> str:
    """``"fork"`` on Linux when each process runs one torch thread, else ``"spawn"``.

    A forked helper inherits the imported modules and the built predictors of the main process, so
    it starts at once; but OpenMP (torch's CPU backend) hangs in a forked child that runs more than
    one thread once the parent has used its thread pool, so more threads need spawned helpers.
    """
    import multiprocessing as mp

    if threads == 1 and sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods():
        return "fork"
    return "spawn"


def _claim(counter: Any) -> int:
    """The index of the next unclaimed task (shared by the main process and its helpers)."""
    with counter.get_lock():
        index = int(counter.value)
        counter.value = index + 1
    return index


def _helper(
    conn: Any,
    counter: Any,
    tasks: Sequence[Any],
    setup: Callable[..., None] | None,
    setup_args: tuple[Any, ...],
    work: Work,
    threads: int,
    parent: int,
    inherited: list[Any],
) -> None:
    """A helper process: claim tasks until none are left, send ``(task number, work(task))`` back.

    A spawned helper runs ``setup(*setup_args)`` first; a forked one (``setup=None``) has what the
    main process set up already and only sets its torch threads; it closes the ``inherited`` read
    ends of the helpers forked before it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the main process stops the helpers
    for other in inherited:
        other.close()
    if setup is None:
        import torch

        torch.set_num_threads(max(1, threads))
    else:
        setup(*setup_args)
    while os.getppid() == parent:  # a helper whose main process has died stops
        n = _claim(counter)
        if n >= len(tasks):
            break
        conn.send((n, work(tasks[n])))
    conn.close()


def _widen(conn: Any) -> None:
    """Let a helper's pipe hold about 1 MiB (Linux), so it rarely waits for the busy main process."""
    try:
        import fcntl

        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):  # pragma: no cover - other systems, or a lower limit
        pass


def run_shared(
    tasks: Sequence[Any],
    workers: int,
    *,
    setup: Callable[..., None],
    setup_args: tuple[Any, ...],
    work: Work,
    threads: int,
    method: str,
    emit: Callable[[Any], None],
) -> None:
    """Run ``tasks`` in this process and ``workers - 1`` helpers; ``emit(work(task))`` here, per task.

    The main process starts on the tasks as soon as ``setup(*setup_args)`` has run here; a helper
    takes the next unclaimed task once it is ready. Tasks a helper claimed but never sent (it
    died) are run here at the end. Ctrl-C or an error here stops the helpers; what was emitted
    stays emitted.

    Args:
        tasks: picklable tasks, in order.
        workers: processes in all (this one included).
        setup: run once per process before its first task (predictors, threads, ...).
        setup_args: ``setup``'s arguments (pickled for spawned helpers).
        work: ``task -> result``; the result is pickled back from a helper.
        threads: torch threads of a forked helper.
        method: ``"fork"`` or ``"spawn"`` (see :func:`helper_start_method`).
        emit: called in this process with each task's result, in the order they finish.
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx: Any = mp.get_context(method)
    forked = method == "fork"
    counter = ctx.Value("q", 0)
    if forked:  # set up before the fork, so that the helpers inherit it (the predictors)
        setup(*setup_args)
    helpers: list[Any] = []
    conns: list[Any] = []  # read ends of the helpers still running
    done: set[int] = set()
    finished = False

    def collect(timeout: float) -> None:
        ready: list[Any] = wait(conns, timeout)
        for conn in ready:
            try:
                n, recs = conn.recv()
            except (EOFError, OSError):  # the helper has ended (done, or died)
                conns.remove(conn)
                conn.close()
                continue
            emit(recs)
            done.add(n)

    try:
        for _ in range(min(workers - 1, len(tasks) - 1)):  # no helper without a task for it
            reader, writer = ctx.Pipe(duplex=False)
            _widen(writer)
            proc = ctx.Process(
                target=_helper,
                daemon=True,
                name="mereo-eval-helper",
                args=(
                    writer,
                    counter,
                    tasks,
                    None if forked else setup,
                    setup_args,
                    work,
                    threads,
                    os.getpid(),
                    list(conns) if forked else [],
                ),
            )
            proc.start()
            writer.close()  # the helper holds the only write end: its end reads as EOF here
            helpers.append(proc)
            conns.append(reader)
        if not forked:  # spawned helpers import and build while this process builds and works
            setup(*setup_args)
        while (n := _claim(counter)) < len(tasks):
            emit(work(tasks[n]))
            done.add(n)
            collect(0)
        while conns and len(done) < len(tasks):  # the helpers' last tasks
            collect(1.0)
        for n in range(len(tasks)):  # claimed by a helper that died before sending them
            if n not in done:
                emit(work(tasks[n]))
                done.add(n)
        finished = True
    finally:
        for proc in helpers:
            proc.join(timeout=5 if finished else 0)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for conn in conns:
            conn.close()
