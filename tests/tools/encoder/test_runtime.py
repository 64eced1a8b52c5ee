"""The shared encoder read by every family's backend (tiny random encoder): validated outputs,
one encoder forward per image whatever tool asks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mereo.cache import FeatureCache
from mereo.checkpoints import save_checkpoint
from mereo.data.synthparts import CATEGORIES, PART_LABELS, generate_scene
from mereo.errors import ValidationError
from mereo.tools import correspond, recognize, segment
from mereo.tools.base import Correspondence, Recognition, ToolContext
from mereo.tools.encoder.model import EncoderConfig, build_model
from mereo.types import ImageRef, PartMask


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = EncoderConfig(channels=(8, 16, 24), blocks=(1, 1, 1), dim=16, part_labels=list(PART_LABELS))
    model = build_model(cfg)
    d = tmp_path_factory.mktemp("enc")
    save_checkpoint(
        "tiny", model.state_dict(), {"config": cfg.to_dict(), "category_names": list(CATEGORIES)}, d
    )
    return str(d / "tiny.safetensors")


@pytest.fixture(scope="module")
def images():
    return [ImageRef(generate_scene("test", 0, i).image) for i in range(2)]


def _encoder_events(ctx: ToolContext) -> list[str]:
    return [e["cache"] for e in ctx.events if e.get("tool") == "encoder"]


def test_segment_backend_returns_part_masks_and_reuses_the_encoding(tiny_checkpoint, images):
    ctx = ToolContext(FeatureCache())
    seg = segment.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    img = images[0]
    out = seg.segment(img, parts=["leg", "seat", "no such part xyz"], object="chair")
    for m in out:
        assert isinstance(m, PartMask) and m.kind == "part"
        assert m.mask.to_numpy().shape == (img.height, img.width)
        assert m.label in {"leg", "seat"} and m.source == "segment:synthparts-cnn"
    seg.segment(img, parts=["wheel"])
    assert _encoder_events(ctx) == ["miss", "hit"]


def test_recognize_and_correspond_share_the_forward_of_segment(tiny_checkpoint, images):
    ctx = ToolContext(FeatureCache())
    seg = segment.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    rec = recognize.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    cor = correspond.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    a, b = images
    seg.segment(a, parts=["leg"])
    found = rec.recognize(a, candidates=["chair", "goat", "teapot"], top_k=2)
    assert 1 <= len(found) <= 2
    for r in found:
        assert isinstance(r, Recognition) and r.label in {"chair", "goat", "teapot"} and 0 <= r.score <= 1
    scores = rec.score(a, None, ["chair", "goat"])
    assert len(scores) == 2 and all(-1 <= s <= 1 for s in scores)
    parts_a = seg.segment(a, parts=list(PART_LABELS))
    parts_b = seg.segment(b, parts=list(PART_LABELS))
    assert parts_a and parts_b  # an untrained part head still labels some pixels
    res = cor.correspond(a, parts_a, b, parts_b)
    assert isinstance(res, Correspondence)
    assert len(res.similarity) == len(parts_a) and len(res.similarity[0]) == len(parts_b)
    pts = cor.match_points(a, [(10.0, 20.0)], b)
    assert len(pts) == 1 and 0 <= pts[0][0] < b.width and 0 <= pts[0][1] < b.height
    # one encoder forward per image, whatever tool asked
    misses = [e["image"] for e in ctx.events if e.get("tool") == "encoder" and e["cache"] == "miss"]
    assert sorted(misses) == sorted({a.sha256[:12], b.sha256[:12]})


def test_coseg_composition_over_the_shared_encoder(tiny_checkpoint, images):
    from mereo.tools import coseg

    ctx = ToolContext(FeatureCache())
    co = coseg.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    a, b = images
    for task in ("common_objects", "common_parts", "unique_parts"):
        out = co.cosegment(a, b, task)
        assert all(isinstance(m, PartMask) and m.image_index in (0, 1) for m in out)
    misses = [e for e in ctx.events if e.get("tool") == "encoder" and e["cache"] == "miss"]
    assert len(misses) == 2  # one forward per image for three tasks and three tools


def test_segment_span_tagging_reads_the_text(tiny_checkpoint, images):
    ctx = ToolContext(FeatureCache())
    seg = segment.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    text = "The chair has a seat and four legs."
    spans, _ = seg.tag_spans(text)
    assert {text[a:b].lower() for a, b in spans} == {"seat", "legs"}
    for m in seg.segment(images[0], text=text, object="chair"):
        assert m.label in {"seat", "leg"}


def test_presence_evidence_reads_the_cached_encoding_and_is_a_set_of_probabilities(tiny_checkpoint, images):
    ctx = ToolContext(FeatureCache())
    seg = segment.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    seg.segment(images[0], parts=["leg"])
    ev = seg.presence_evidence(images[0], "chair")
    assert set(ev) == {"pix", "pmax", "pmean", "pool"}
    assert all(0.0 <= v <= 1.0 for v in ev.values())
    assert ev["pmean"] <= ev["pmax"] + 1e-6
    novel = seg.presence_evidence(images[0], "a name the encoder never saw")  # open vocabulary
    assert set(novel) == set(ev)
    assert _encoder_events(ctx) == ["miss", "hit", "hit"]


def test_zoom_box_is_a_square_around_the_mask_inside_the_image():
    import numpy as np

    from mereo.tools.segment.evidence import zoom_box

    m = np.zeros((100, 120), dtype=bool)
    m[2:12, 100:118] = True  # 10 x 18 near the top-right corner
    top, left, side = zoom_box(m, 0.5)
    assert side == 36 and 0 <= top and top + side <= 100 and 0 <= left and left + side <= 120
    assert top <= 2 and top + side >= 12 and left <= 100 and left + side >= 118
    assert zoom_box(np.zeros((5, 5), dtype=bool), 0.5) is None
    assert zoom_box(np.ones((50, 80), dtype=bool), 0.5)[2] == 50  # never larger than the image


def test_a_small_object_is_segmented_from_a_zoomed_second_encoding(tiny_checkpoint, images):
    import numpy as np

    ctx = ToolContext(FeatureCache())
    seg = segment.build(f"synthparts-cnn:{tiny_checkpoint}@zoom", ctx)
    img = images[0]
    enc = seg.encoder.encode(ctx, img)
    plain = segment.build(f"synthparts-cnn:{tiny_checkpoint}@no-zoom", ctx)
    assert segment.build(f"synthparts-cnn:{tiny_checkpoint}", ctx).zoom  # on by default
    with pytest.raises(ValidationError, match="@no-zoom"):
        segment.build(f"synthparts-cnn:{tiny_checkpoint}@zoon", ctx)
    with pytest.raises(ValidationError, match="contradictory"):
        segment.build(f"synthparts-cnn:{tiny_checkpoint}@zoom@no-zoom", ctx)
    region = np.zeros((img.height, img.width), dtype=bool)
    region[10:30, 20:40] = True
    masks = seg.kind_masks(img, enc, ["leg", "seat"], "chair", region)
    zooms = [e for e in ctx.events if e.get("tool") == "encoder" and "zoom" in e]
    assert len(zooms) == 1 and zooms[0]["cache"] == "miss"
    top, left, side = zooms[0]["zoom"]
    outside = np.ones_like(region)
    outside[top : top + side, left : left + side] = False
    assert all(m.shape == region.shape and not (m & outside).any() for m in masks.values())
    seg.kind_masks(img, enc, ["leg"], "chair", region)  # the zoomed encoding is cached
    assert [e["cache"] for e in ctx.events if "zoom" in e] == ["miss", "hit"]
    plain.kind_masks(img, enc, ["leg"], "chair", region)  # not with @no-zoom
    assert len([e for e in ctx.events if "zoom" in e]) == 2


def test_batched_encoding_equals_one_forward_per_image_and_is_noted_once(tiny_checkpoint, images):
    from mereo.tools.encoder.runtime import load_encoder

    enc = load_encoder(tiny_checkpoint)
    a, b = images
    batched = enc.forward_many([a.array, b.array])
    for one, im in zip(batched, (a, b), strict=True):
        single = enc.forward(im.array)
        assert one.size == single.size
        for field in ("features", "part", "sem", "inst", "corr", "pooled"):
            assert torch.allclose(getattr(one, field), getattr(single, field), atol=1e-4), field
    ctx = ToolContext(FeatureCache())
    seg = segment.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    seg.prepare([a, b, a])
    seg.segment(a, parts=["leg"])
    seg.segment(b, parts=["leg"])
    notes = [(e["image"], e["cache"]) for e in ctx.events if e.get("tool") == "encoder"]
    assert notes == [
        (a.sha256[:12], "miss"),
        (b.sha256[:12], "miss"),
        (a.sha256[:12], "hit"),
        (b.sha256[:12], "hit"),
    ]
    seg.prepare([a, b])  # nothing new: no forward, no note
    assert len([e for e in ctx.events if e.get("tool") == "encoder"]) == 4


def test_the_agents_own_description_is_not_tagged_again_and_free_text_is_tagged_once(tiny_checkpoint):
    from mereo.tools.segment.text import describe

    ctx = ToolContext(FeatureCache())
    seg = segment.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    calls: list[str] = []
    real = seg.tag_spans

    def counting(text: str):
        calls.append(text)
        return real(text)

    seg.tag_spans = counting
    parts = ["seat", "back", "leg"]
    assert seg.labels(describe("chair", parts), parts, "chair") == parts
    assert calls == []  # the spans of describe(object, parts) are known
    free = "The chair has four legs and a seat."
    assert seg.labels(free, parts, "chair") == ["leg", "seat"]
    assert seg.labels(free, None, "chair") == ["leg", "seat"]
    assert calls == [free]  # tagged once, then read from the cache


def test_segmenter_and_recognizer_share_the_instances_of_an_image(tiny_checkpoint, images):
    ctx = ToolContext(FeatureCache())
    seg = segment.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    rec = recognize.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    seg.segment(images[0], parts=["leg"], object="chair")
    misses = ctx.cache.misses
    rec.recognize(images[0])
    assert ctx.cache.misses == misses  # encoding, colour weights and instances all cached


def test_a_part_name_takes_a_near_kind_only_when_no_other_name_claims_it(tiny_checkpoint):
    ctx = ToolContext(FeatureCache())
    seg = segment.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    assert seg.resolve("inner body") == "body"  # MiniLM's nearest kind ...
    kinds = seg.kinds_for(["base", "body", "inner body", "handle"], "mug")
    assert kinds == {"base": "base", "body": "body", "handle": "handle"}  # ... but body is asked for itself
    assert seg.resolve("foot") == "footboard"
    assert "foot" not in seg.kinds_for(["foot", "leg", "tail"], "dog")  # a footboard is no part of a dog
    assert seg.kinds_for(["foot"], None) == {"foot": "footboard"}  # no object named: nearest kind stands
    masks = seg.segment(generate_scene("test", 0, 0).image, parts=["body", "inner body"], object="mug")
    assert [m.label for m in masks] in ([], ["body"])


def test_encodings_mix_with_the_models_parameters_outside_no_grad(tiny_checkpoint, images):
    ctx = ToolContext(FeatureCache())
    seg = segment.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    seg.prepare(images)  # the batched path
    enc = seg.encoder.encode(ctx, images[0])
    region = seg.region(images[0], enc, "chair")  # public helper, called with autograd on
    assert region is None or region.shape == (images[0].height, images[0].width)


def test_the_closer_look_encodes_crops_of_the_objects_in_one_noted_batch(tiny_checkpoint):
    from mereo.tools.encoder.instances import Instance

    ctx = ToolContext(FeatureCache())
    seg = segment.build(f"synthparts-cnn:{tiny_checkpoint}", ctx)
    img = ImageRef(generate_scene("test", 0, 5).image)
    enc = seg.encoder.encode(ctx, img)
    boxes = [(10, 10, 30, 30), (60, 50, 40, 40), (0, 0, 128, 128)]  # the last fills the image: no crop
    insts = []
    for y, x, h, w in boxes:
        m = np.zeros((img.height, img.width), dtype=bool)
        m[y : y + h, x : x + w] = True
        insts.append(Instance(torch.zeros(32, 32, dtype=torch.bool), m, torch.zeros(384), torch.zeros(8)))
    seg.instances = lambda image, e: insts  # the objects this test places
    out = seg.closer_look(img, "chair")
    assert set(out) == {"zpix", "zpmax", "zpmean", "zpool"} and all(0.0 <= v <= 1.0 for v in out.values())
    looked = [e for e in ctx.events if e.get("tool") == "encoder" and e.get("look") == "chair"]
    assert len(looked) == 2 and all(e["batch"] == 2 and e["cache"] == "miss" for e in looked)
    assert enc is seg.encoder.encode(ctx, img)
