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

    from mereo.cli import TRAIN_STEPS
    from mereo.tools.encoder.training.train import parse_args

    names = [name for name, _ in TRAIN_STEPS]
    assert names[:2] == ["encoder", "encoder"] and set(names) == set(TRAIN_ORDER)
    second = parse_args(list(TRAIN_STEPS[1][1]))
    root = Path(__file__).resolve().parents[1]
    # the second stage starts from the checkpoint the first stage writes, in its own state folder
    committed = root / "mereo" / "checkpoints" / "synthparts-cnn.safetensors"
    assert (root / second.init_from).resolve() == committed
    assert second.state_dir != parse_args([]).state_dir
