"""Image loading under hostile input: decompression bombs, 16-bit files, NaN/inf arrays (issue 14)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from PIL import Image

from mereo.errors import InvalidImageError
from mereo.images import write_blank_png
from mereo.types import MAX_SIDE, ImageRef

ROOT = Path(__file__).resolve().parents[1]


def _peak_mb_of(code: str) -> float:
    """Run ``code`` in a fresh interpreter; the growth of its peak RSS in MB over the imports.

    (The peak is VmHWM, which a new process starts afresh; ``ru_maxrss`` would carry pytest's.)"""
    head = "import sys\nimport numpy, PIL.Image, mereo.errors, mereo.types\n"
    head += "from mereo.images import peak_rss_mb\n"
    head += "base = peak_rss_mb()\ntry:\n"
    tail = (
        "\nexcept mereo.errors.MereoError as e:\n    print(type(e).__name__, str(e)[:200], file=sys.stderr)\n"
        "print(peak_rss_mb() - base)\n"
    )
    prog = head + textwrap.indent(textwrap.dedent(code).strip(), "    ") + tail
    out = subprocess.run(
        [sys.executable, "-c", prog], capture_output=True, text=True, cwd=ROOT, timeout=300, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("w", "h", "mode"), [(30000, 29999, "RGBA"), (20000, 20000, "RGB")])
def test_bomb_png_peak_memory_bounded(tmp_path, w, h, mode) -> None:
    path = tmp_path / f"bomb_{w}x{h}.png"
    write_blank_png(path, w, h, mode)
    assert path.stat().st_size < 5_000_000  # a few MB on disk
    grown = _peak_mb_of(f"mereo.types.ImageRef({str(path)!r})")
    assert grown < 1024, f"ImageRef of a {w}x{h} {mode} PNG grew the peak RSS by {grown:.0f} MB"
    with pytest.raises(InvalidImageError, match="downscale it first"):
        ImageRef(path)


def test_largest_accepted_png_stays_under_the_bound(tmp_path) -> None:
    """Just under the decode budget (11500 x 11500 RGB, 529 MB as Pillow stores it): loaded, downscaled."""
    path = write_blank_png(tmp_path / "big.png", 11500, 11500, "RGB")
    grown = _peak_mb_of(f"r = mereo.types.ImageRef({str(path)!r}); assert r.width == mereo.types.MAX_SIDE, r")
    assert grown < 1024


def test_large_jpeg_is_decoded_reduced(tmp_path) -> None:
    """A JPEG over the decode budget is decoded at a reduced scale (draft), not refused."""
    path = tmp_path / "big.jpg"
    Image.new("L", (16000, 16000), 128).save(path, quality=50)
    grown = _peak_mb_of(f"r = mereo.types.ImageRef({str(path)!r}); assert r.width == mereo.types.MAX_SIDE, r")
    assert grown < 400
    ref = ImageRef(path)
    assert (ref.width, ref.height) == (MAX_SIDE, MAX_SIDE)
    assert any("downscaled" in n for n in ref.notes)


def test_16bit_grayscale_png_is_scaled(tmp_path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (32, 1))
    path = tmp_path / "g16.png"
    Image.fromarray(ramp).save(path)
    ref = ImageRef(path)
    assert ref.array[0, 0, 0] == 0 and ref.array[0, -1, 0] == 255
    assert 120 <= ref.array[0, 32, 0] <= 135  # the middle of the ramp stays mid-grey
    # uint16 arrays are scaled the same way
    np.testing.assert_array_equal(ImageRef(ramp).array, ref.array)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_refused_with_reason(bad) -> None:
    arr = np.full((16, 16, 3), 0.5, dtype=np.float32)
    arr[3, 4, 1] = bad
    with pytest.raises(InvalidImageError, match="NaN or infinite"):
        ImageRef(arr)
    with pytest.raises(InvalidImageError, match="NaN or infinite"):
        ImageRef(np.full((16, 16, 3), bad, dtype=np.float64))


def test_out_of_range_floats_refused() -> None:
    with pytest.raises(InvalidImageError, match=r"\[0, 1\]"):
        ImageRef(np.full((16, 16, 3), -0.25, dtype=np.float32))
    with pytest.raises(InvalidImageError, match="255"):
        ImageRef(np.full((16, 16, 3), 200.0, dtype=np.float32))


DTYPES = st.sampled_from(
    [np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_]
)


@settings(max_examples=150, deadline=None)
@given(arrays(DTYPES, array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=20)))
def test_any_array_gives_an_rgb_image_or_invalid_image_error(arr: np.ndarray) -> None:
    try:
        ref = ImageRef(arr)
    except InvalidImageError as e:
        assert str(e)
        return
    assert ref.array.dtype == np.uint8 and ref.array.ndim == 3 and ref.array.shape[2] == 3
    assert min(ref.height, ref.width) >= 8
    if np.issubdtype(arr.dtype, np.floating):
        assert np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1
    assert len(ref.sha256) == 64


def test_peak_helper_sees_a_big_allocation() -> None:
    """The memory measurement itself works: a 300 MB allocation shows up."""
    assert _peak_mb_of("x = b'1' * 300_000_000") > 250
