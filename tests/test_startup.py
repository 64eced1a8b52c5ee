"""Start-up stays light: ``import mereo`` and ``PartAgent()`` import no heavy model library."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("transformers", "segment_anything", "torchvision", "open_clip", "timm", "torch._dynamo", "scipy")


def heavy_after(code: str) -> list[str]:
    """The HEAVY modules a fresh interpreter has imported after running ``code``."""
    report = f"import json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    out = subprocess.run(
        [sys.executable, "-c", code + "\n" + report], capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_and_agent_construction_import_no_heavy_module():
    assert heavy_after("import mereo\nmereo.PartAgent()") == []


def test_minilm_encode_imports_no_transformers():
    """The sentence encoder is our own BERT forward (mereo.minilm): no transformers on the way."""
    code = "import mereo.text\nassert mereo.text.get_encoder().encode(['chair']).shape == (1, 384)"
    assert heavy_after(code) == []


def test_ask_honours_preset(tmp_path, capsys):
    """``mereo ask --preset`` builds that preset (it was once accepted and ignored)."""
    from mereo.cli import main

    code = main(["ask", "--preset", "no-such-preset", "--image", "x.png", "--out", str(tmp_path), "q?"])
    assert code != 0
    assert "unknown preset 'no-such-preset'" in capsys.readouterr().err


def test_plum_model_imports_without_torchvision():
    """PLUM's layers come from segment_anything.modeling without its predictor (torchvision);
    a later plain ``import segment_anything`` still gets the whole package."""
    code = (
        "import sys\n"
        "import mereo.tools.segment.model\n"
        "print('torchvision' in sys.modules, 'segment_anything' in sys.modules)\n"
        "import segment_anything\n"
        "print(hasattr(segment_anything, 'SamPredictor'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.split() == ["False", "False", "True"]


def test_a_default_question_imports_no_heavy_module():
    """The default backends (the shared encoder and PLUM-small's tagger) need none of them."""
    code = (
        "import mereo\n"
        "from mereo.data.synthparts import generate_scene\n"
        "s = generate_scene('test', 0, 0)\n"
        "ans = mereo.PartAgent().ask(\n"
        "    f'What visible parts does the {s.objects[0].category} in the image have?', images=[s.image]\n"
        ")\n"
        "assert ans.labels"
    )
    assert heavy_after(code) == []
