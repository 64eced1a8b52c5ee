"""What every trainer shares: seeding and threads, the common options, the learning-rate
schedule and the optimiser step, an epoch loop with a progress bar, a validation record per
epoch and a resumable state file, and writing the checkpoint.

A trainer (``mereo/tools/<family>/training/train.py``) reads like this::

    args = parser.parse_args(argv)                  # after add_common_args(parser)
    rng = setup(args)                               # threads, torch + numpy seeds
    loop = EpochLoop(epochs, steps, desc="coseg", state_file=state_path("calico-small"),
                     run_key=train_command("coseg", argv))
    loop.track(model=model, optimizer=opt, scheduler=sched, rng=rng)
    loop.resume()                                   # after a kill: continue at the next epoch
    for epoch in loop.epochs():
        for step in loop.steps(epoch):
            loss = ...
            optimizer_step(loss, opt, params, sched)
        loop.end_epoch({"epoch": epoch + 1, **validate(model)})
    write_checkpoint("calico-small", model.state_dict(), manifest, args.out)
    loop.finish()                                   # the state file is no longer needed
"""

from mereo.training.loop import EpochLoop, state_path
from mereo.training.output import write_checkpoint
from mereo.training.schedule import optimizer_step, warmup_cosine
from mereo.training.setup import add_common_args, seed_everything, set_threads, setup

__all__ = [
    "EpochLoop",
    "add_common_args",
    "optimizer_step",
    "seed_everything",
    "set_threads",
    "setup",
    "state_path",
    "warmup_cosine",
    "write_checkpoint",
]
