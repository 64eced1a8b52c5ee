"""``mereo ask`` refuses unusable options clearly and before answering (issue 14, item 7)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mereo.cli import main


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.full((32, 32, 3), 200, dtype=np.uint8)).save(path)
    return str(path)


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("device", ["tpu", "cuda", "gpu0"])
def test_unusable_device_is_a_clear_error(capsys, image: str, device: str) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = ["ask", "--device", device, "--image", image, "What parts does the chair have?"]
    code, out, err = _run(capsys, argv)
    assert code != 0
    assert "mereo: error:" in err and "Traceback" not in err
    assert "cpu" in err  # says what to use instead
    assert "A:" not in out


def test_out_naming_an_existing_file_is_refused_before_answering(capsys, tmp_path, image: str) -> None:
    taken = tmp_path / "taken.txt"
    taken.write_text("mine")
    code, out, err = _run(
        capsys, ["ask", "--out", str(taken), "--image", image, "What visible parts does the chair have?"]
    )
    assert code != 0
    assert "mereo: error:" in err and str(taken) in err
    assert "A:" not in out  # refused before the question was answered
    assert taken.read_text() == "mine"
