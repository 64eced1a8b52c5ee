"""Core types: RLE masks, IoU against pycocotools, images and their failure modes, schemas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from pycocotools import mask as mask_utils

from mereo.errors import InvalidImageError, MereoError, ValidationError
from mereo.types import MAX_SIDE, ImageRef, Mask, PartMask, json_schema, validate

masks_2d = arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 40)))


@settings(max_examples=60, deadline=None)
@given(masks_2d)
def test_rle_round_trip(arr: np.ndarray) -> None:
    m = Mask.from_numpy(arr)
    assert m.size == arr.shape
    np.testing.assert_array_equal(m.to_numpy(), arr)
    assert m.area == int(arr.sum())
    # JSON round trip keeps the mask
    again = Mask.model_validate_json(m.model_dump_json())
    np.testing.assert_array_equal(again.to_numpy(), arr)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_iou_matches_pycocotools(data: st.DataObject) -> None:
    h = data.draw(st.integers(2, 30))
    w = data.draw(st.integers(2, 30))
    a = data.draw(arrays(np.bool_, (h, w)))
    b = data.draw(arrays(np.bool_, (h, w)))
    ma, mb = Mask.from_numpy(a), Mask.from_numpy(b)
    ref = mask_utils.iou([ma.rle()], [mb.rle()], [0])[0][0]
    if a.any() or b.any():
        assert ma.iou(mb) == pytest.approx(ref)
        assert ma.iou(mb) == pytest.approx((a & b).sum() / (a | b).sum())
    else:
        assert ma.iou(mb) == 1.0  # empty vs empty counts as a perfect match


def test_union_and_intersection_of_several() -> None:
    rng = np.random.default_rng(0)
    arrs = [rng.random((20, 30)) > 0.5 for _ in range(4)]
    masks = [Mask.from_numpy(a) for a in arrs]
    np.testing.assert_array_equal(Mask.union(masks).to_numpy(), np.logical_or.reduce(arrs))
    np.testing.assert_array_equal(Mask.intersection(masks).to_numpy(), np.logical_and.reduce(arrs))
    np.testing.assert_array_equal((masks[0] | masks[1]).to_numpy(), arrs[0] | arrs[1])
    with pytest.raises(ValueError, match="sizes differ"):
        masks[0].iou(Mask.empty(5, 5))


def test_polygon_and_uncompressed_rle() -> None:
    poly = Mask.from_coco([[2, 2, 12, 2, 12, 8, 2, 8]], 10, 16)
    assert 50 <= poly.area <= 80
    arr = np.zeros((6, 5), dtype=bool)
    arr[1:4, 2:4] = True
    # uncompressed RLE: column-major runs starting with zeros
    runs = []
    flat = arr.flatten(order="F")
    val, count = False, 0
    for px in flat:
        if px == val:
            count += 1
        else:
            runs.append(count)
            val, count = px, 1
    runs.append(count)
    m = Mask.from_coco({"size": [6, 5], "counts": runs}, 6, 5)
    np.testing.assert_array_equal(m.to_numpy(), arr)


def test_partmask_schema_and_validate() -> None:
    pm = PartMask(label="leg", object="chair", image_index=1, mask=Mask.from_numpy(np.eye(8, dtype=bool)))
    schema = json_schema(PartMask)
    assert validate(pm.model_dump(mode="json"), schema) is not None
    bad = pm.model_dump(mode="json")
    bad["image_index"] = -1
    with pytest.raises(ValidationError, match="image_index"):
        validate(bad, schema)
    with pytest.raises(ValidationError, match="not valid JSON"):
        validate("{not json", schema)
    assert issubclass(ValidationError, MereoError)


# -- images -----------------------------------------------------------------------------------


def _png(path, arr, mode=None):
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def test_image_from_path_array_pil_and_hash(tmp_path) -> None:
    arr = np.random.default_rng(1).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    p = _png(tmp_path / "a.png", arr)
    a, b, c = ImageRef(p), ImageRef(arr), ImageRef(Image.fromarray(arr))
    assert a.sha256 == b.sha256 == c.sha256
    assert (a.width, a.height) == (48, 32)
    assert ImageRef(arr[:, ::-1].copy()).sha256 != a.sha256


def test_missing_file(tmp_path) -> None:
    with pytest.raises(InvalidImageError, match="not found"):
        ImageRef(tmp_path / "nope.png")


def test_folder_is_not_an_image(tmp_path) -> None:
    with pytest.raises(InvalidImageError, match="folder"):
        ImageRef(tmp_path)


def test_non_image_file(tmp_path) -> None:
    p = tmp_path / "notes.png"
    p.write_text("this is text, not pixels")
    with pytest.raises(InvalidImageError, match="not an image"):
        ImageRef(p)


def test_truncated_png(tmp_path) -> None:
    arr = np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    p = _png(tmp_path / "full.png", arr)
    data = p.read_bytes()
    t = tmp_path / "truncated.png"
    t.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImageError, match="truncated"):
        ImageRef(t)


def test_tiny_image_refused(tmp_path) -> None:
    p = _png(tmp_path / "one.png", np.zeros((1, 1, 3), dtype=np.uint8))
    with pytest.raises(InvalidImageError, match="at least"):
        ImageRef(p)


def test_huge_image_downscaled(tmp_path) -> None:
    # 20000 x 20000 as a palette PNG stays small on disk; it is downscaled, and the note says so
    im = Image.new("P", (20000, 20000), 3)
    p = tmp_path / "huge.png"
    im.save(p, optimize=False)
    ref = ImageRef(p)
    assert max(ref.width, ref.height) == MAX_SIDE
    assert any("downscaled from 20000x20000" in n for n in ref.notes)


def test_grayscale_and_rgba_converted(tmp_path) -> None:
    g = _png(tmp_path / "g.png", np.full((16, 16), 128, dtype=np.uint8))
    ref = ImageRef(g)
    assert ref.array.shape == (16, 16, 3) and any("converted L" in n for n in ref.notes)
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    r = ImageRef(_png(tmp_path / "rgba.png", rgba))
    assert r.array.shape == (16, 16, 3) and r.array[0, 0].tolist() == [255, 0, 0]
    assert ImageRef(rgba).array.shape == (16, 16, 3)


def test_bad_array_and_type() -> None:
    with pytest.raises(InvalidImageError, match="HxWx3"):
        ImageRef(np.zeros((4, 4, 4, 4), dtype=np.uint8))
    with pytest.raises(InvalidImageError, match="uint8"):
        ImageRef(np.full((16, 16, 3), 700, dtype=np.int64))  # 0..255 ints are accepted
    with pytest.raises(InvalidImageError, match="cannot use"):
        ImageRef(42)  # type: ignore[arg-type]
