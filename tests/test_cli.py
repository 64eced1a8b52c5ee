"""The ``mereo`` dispatcher: every command and subcommand prints its options (issue 14, item 10)."""

from __future__ import annotations

import pytest

from mereo.cli import COMMANDS, TRAIN_ORDER, main


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    try:
        code = main([*argv, "--help"])
    except SystemExit as e:  # argparse's --help
        code = int(e.code or 0)
    out = capsys.readouterr().out
    assert code == 0, out
    return out


@pytest.mark.parametrize("cmd", ["train", "eval", "bench"])
def test_group_help_lists_every_subcommand_with_its_options(capsys, cmd: str) -> None:
    out = _help(capsys, cmd)
    subs = COMMANDS[cmd]
    assert isinstance(subs, dict)
    for sub in subs:
        assert f"mereo {cmd} {sub}" in out
    assert out.count("options:") >= len(set(subs.values())) - 1
    assert "-h, --help" in out


def test_data_help_prints_each_subcommands_options(capsys) -> None:
    out = _help(capsys, "data")
    for sub in ("synthparts", "stats", "colour-check"):
        assert f"mereo data {sub}" in out
    assert "--split" in out and "--out" in out
    assert out.count("options:") >= 3  # the options of each subcommand, not only the overview


def test_train_all_help_shows_every_trainer(capsys) -> None:
    out = _help(capsys, "train", "all")
    for name in TRAIN_ORDER:
        assert f"mereo train {name}" in out
    assert out.count("options:") >= len(TRAIN_ORDER)


@pytest.mark.parametrize("argv", [("ask",), ("demo",), ("graph",), ("train", "segment"), ("eval", "agent")])
def test_single_commands_print_options(capsys, argv: tuple[str, ...]) -> None:
    assert "options:" in _help(capsys, *argv)


def test_train_all_runs_both_encoder_stages_and_every_trainer() -> None:
    from pathlib import Path

    from mereo.tools.encoder.training.train import parse_args
    from mereo.train_all import steps

    for serial in (False, True):
        plan = steps(serial)
        names = [name for name, _, _ in plan]
        assert names[0] == names[-1] == "encoder" and sorted(set(names)) == sorted(TRAIN_ORDER)
        lanes = {lane for _, _, lane in plan}
        assert lanes == ({"main", "after"} if serial else {"main", "side", "after"})
    plan = steps()
    encoder = [parse_args(list(opts)) for name, opts, _ in plan if name == "encoder"]
    first, second, third = encoder
    root = Path(__file__).resolve().parents[1]
    # the second stage starts from the checkpoint the first stage writes, in its own state folder;
    # the first leaves the other core to the side lane
    committed = root / "mereo" / "checkpoints" / "synthparts-cnn.safetensors"
    assert (root / second.init_from).resolve() == (root / third.init_from).resolve() == committed
    assert len({first.state_dir, second.state_dir, third.state_dir}) == 3 and first.threads == 1
    assert third.zoom > 0 and first.zoom == second.zoom == 0 and third.plot
    # calico-small reads the dinov2-small and clip-small checkpoints: they train before it
    side = [name for name, _, lane in plan if lane == "side"]
    assert side.index("coseg") > max(side.index("correspond"), side.index("recognize"))


def test_train_all_side_lane_runs_in_order_logs_and_stops_at_a_failure(tmp_path, monkeypatch) -> None:
    import sys

    from mereo import train_all

    # the side lane's trainer command, swapped for a script that records its arguments and fails
    # for the third trainer
    script = tmp_path / "fake_trainer.py"
    script.write_text(
        "import sys\nprint('args', *sys.argv[1:])\nsys.exit(3 if sys.argv[1] == 'coseg' else 0)\n"
    )
    monkeypatch.setattr(train_all, "TRAINER", (sys.executable, str(script)))
    runs = [(name, ("--threads", "1")) for name in train_all.SIDE_LANE]
    code = train_all.side_lane(runs, ["--seed", "5"], tmp_path / "logs").wait()
    assert code == 3
    logs = tmp_path / "logs"
    assert (logs / "correspond.log").read_text().split() == [
        "args",
        "correspond",
        "--threads",
        "1",
        "--seed",
        "5",
    ]
    assert (logs / "recognize.log").exists() and (logs / "coseg.log").exists()
    assert not (logs / "segment.log").exists()  # the lane stopped at the failure
