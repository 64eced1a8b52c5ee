"""An epoch loop with a tqdm bar, a record per epoch, a deadline and a resumable state file.

After every epoch :meth:`EpochLoop.end_epoch` writes the state of everything the loop tracks
(model, optimiser and schedule weights, numpy and torch random generators, the history and
``extra``) to a state file, atomically. A run killed mid-way and started again with the same
command (``run_key``) continues after the last finished epoch, with the same random streams, so
it ends with the same weights as a run that was never stopped. :meth:`EpochLoop.finish` deletes
the file once the checkpoint is written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm


def state_path(name: str) -> Path:
    """Where the trainer of checkpoint ``name`` keeps its state: ``<data folder>/train-state/<name>.pt``."""
    from mereo.data.arrays import data_dir

    return data_dir() / "train-state" / f"{name}.pt"


@dataclass(eq=False)
class EpochLoop:
    """Epochs of steps for a trainer.

    Args:
        n_epochs: number of epochs.
        steps_per_epoch: steps in each epoch.
        desc: the progress bar's label.
        progress: show the bar.
        max_steps: stop after this many steps in all (``None``: no limit).
        deadline: stop after the epoch during which ``time.time()`` passes this.
        name: the checkpoint's name; the state is kept in :func:`state_path` of it unless
            ``state_file`` says where (neither: no state file, no resume).
        state_file: where to keep the resumable state.
        run_key: what identifies the run (its command); a state file of another run is ignored.

    Attributes:
        history: the records passed to :meth:`end_epoch`.
        extra: values the trainer keeps across a resume (tensors, numbers, lists, dicts).
        step: steps done in all.
        stopped: why the loop ended early (``""`` when it ran every epoch).
    """

    n_epochs: int
    steps_per_epoch: int
    _: KW_ONLY
    desc: str = "train"
    progress: bool = True
    max_steps: int | None = None
    deadline: float | None = None
    name: str | None = None
    state_file: Path | None = None
    run_key: str = ""
    history: list[dict[str, Any]] = field(default_factory=list, init=False)
    extra: dict[str, Any] = field(default_factory=dict, init=False)
    step: int = field(default=0, init=False)
    start_epoch: int = field(default=0, init=False)
    epochs_done: int = field(default=0, init=False)
    stopped: str = field(default="", init=False)
    _epoch: int = field(default=0, init=False, repr=False)
    _tracked: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _bar: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.state_file is None and self.name is not None:
            self.state_file = state_path(self.name)
        elif self.state_file is not None:
            self.state_file = Path(self.state_file)

    # -- what a resume restores -----------------------------------------------------------------
    def track(self, **objects: Any) -> None:
        """Objects whose state the state file keeps: anything with ``state_dict`` /
        ``load_state_dict`` (models, optimisers, schedules), tensors and parameters (restored in
        place), numpy ``Generator`` s and ``torch.Generator`` s. torch's global generator is
        always kept."""
        self._tracked.update(objects)

    def _state(self) -> dict[str, Any]:
        objects: dict[str, Any] = {}
        for name, obj in self._tracked.items():
            if isinstance(obj, np.random.Generator):
                objects[name] = obj.bit_generator.state
            elif isinstance(obj, torch.Generator):
                objects[name] = obj.get_state()
            elif isinstance(obj, torch.Tensor):
                objects[name] = obj.detach().clone()
            else:
                objects[name] = obj.state_dict()
        return {
            "run_key": self.run_key,
            "epochs_done": self.epochs_done,
            "step": self.step,
            "history": self.history,
            "extra": self.extra,
            "torch_rng": torch.get_rng_state(),
            "objects": objects,
        }

    def resume(self, enabled: bool = True) -> bool:
        """Load the state file when it exists and belongs to this run; returns whether it did.

        Call it after :meth:`track`. Epochs before the saved one are skipped by :meth:`epochs`.
        ``enabled=False`` (a trainer's ``--no-resume``) starts afresh.
        """
        if not enabled or self.state_file is None or not self.state_file.exists():
            return False
        state = torch.load(self.state_file, weights_only=True)
        if state.get("run_key") != self.run_key or set(state["objects"]) != set(self._tracked):
            print(f"ignoring {self.state_file}: it is the state of another run", flush=True)
            return False
        for name, obj in self._tracked.items():
            saved = state["objects"][name]
            if isinstance(obj, np.random.Generator):
                obj.bit_generator.state = saved
            elif isinstance(obj, torch.Generator):
                obj.set_state(saved)
            elif isinstance(obj, torch.Tensor):
                with torch.no_grad():
                    obj.copy_(saved)
            else:
                obj.load_state_dict(saved)
        torch.set_rng_state(state["torch_rng"])
        self.history = list(state["history"])
        self.extra = dict(state["extra"])
        self.step = int(state["step"])
        self.start_epoch = self.epochs_done = int(state["epochs_done"])
        print(f"resuming after epoch {self.start_epoch} from {self.state_file}", flush=True)
        return True

    def _save(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        torch.save(self._state(), tmp)
        os.replace(tmp, self.state_file)

    def finish(self) -> None:
        """Delete the state file (call it once the checkpoint is written)."""
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)

    # -- iteration --------------------------------------------------------------------------------
    def _out_of_steps(self) -> bool:
        return self.max_steps is not None and self.step >= self.max_steps

    def epochs(self) -> Iterator[int]:
        """Epoch indices from the first one not done; stops early at ``max_steps`` or ``deadline``."""
        for epoch in range(self.start_epoch, self.n_epochs):
            if self._out_of_steps():
                self.stopped = f"max_steps {self.max_steps} reached"
                return
            self._epoch = epoch
            yield epoch
            if self._out_of_steps():
                self.stopped = f"max_steps {self.max_steps} reached"
                return
            if self.deadline is not None and time.time() > self.deadline and epoch + 1 < self.n_epochs:
                self.stopped = f"deadline reached after epoch {epoch + 1}"
                print(f"stopping after epoch {epoch + 1}: the time limit is reached", flush=True)
                return

    def steps(self, epoch: int) -> Iterator[int]:
        """Step indices of ``epoch`` (``0 .. steps_per_epoch - 1``, fewer at ``max_steps``), with a bar."""
        total = self.steps_per_epoch
        if self.max_steps is not None:
            total = max(0, min(total, self.max_steps - self.step))
        self._bar = tqdm(
            total=total, desc=f"{self.desc} epoch {epoch + 1}/{self.n_epochs}", disable=not self.progress
        )
        try:
            for i in range(total):
                yield i
                self.step += 1
                self._bar.update(1)
        finally:
            self._bar.close()

    def show(self, **values: Any) -> None:
        """Show ``values`` (losses) next to the bar; floats with 3 decimals."""
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.3f}" if isinstance(v, float) else v for k, v in values.items()})

    def end_epoch(self, record: dict[str, Any], message: str | None = None) -> None:
        """Append ``record`` to the history, print ``message`` (default: the record as
        ``key=value`` pairs) and write the state file."""
        self.history.append(record)
        self.epochs_done = self._epoch + 1
        if message is None:
            message = " ".join(
                f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
            )
        print(message, flush=True)
        self._save()
