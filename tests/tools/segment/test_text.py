"""Description texts, B/I/O tags and span decoding of the segment tool."""

from __future__ import annotations

import numpy as np
import pytest

from mereo.knowledge import canonical
from mereo.tools.segment.spans import B_TAG, I_TAG, O_TAG, bio_tags, char_spans, decode_tags, span_f1
from mereo.tools.segment.text import (
    describe,
    describe_spans,
    generate_description,
    pluralize,
)


def test_describe_reads_like_a_sentence() -> None:
    assert describe("chair", ["seat", "back", "leg"]) == "The chair has a seat, a back and a leg."
    assert describe("airplane", ["engine"]) == "The airplane has an engine."
    assert describe("chair", []) == "The chair has no visible parts."
    assert describe(None, ["seat", "seat", " "]) == "The object has a seat."


def test_describe_spans_point_at_the_part_names() -> None:
    d = describe_spans("table", ["top", "leg", "apron"])
    assert d.text == describe("table", ["top", "leg", "apron"])
    assert [d.text[a:b] for a, b, _ in d.spans] == ["top", "leg", "apron"]


@pytest.mark.parametrize("word", ["leg", "wheel", "foot", "body", "bus", "knife", "headlight", "tail fin"])
def test_plural_round_trip(word: str) -> None:
    assert canonical(pluralize(word)) == word  # knowledge.canonical reads the descriptions' plurals
    assert canonical(pluralize(word).upper()) == word


def test_generated_descriptions_tag_listed_parts_and_not_negated_ones() -> None:
    rng = np.random.default_rng(3)
    negated_seen = 0
    for _ in range(200):
        d = generate_description(
            "car", ["wheel", "door", "roof"], rng, lacking=["wing", "tail"], p_negated=0.5
        )
        labels = [lab for _, _, lab in d.spans]
        for a, b, lab in d.spans:
            assert canonical(d.text[a:b]) == lab
        assert {"wheel", "door", "roof"} <= set(labels)
        if len(labels) < 5:
            negated_seen += 1
            assert " no " in d.text
        assert "car" in d.text
    assert negated_seen > 20


def test_generation_is_deterministic() -> None:
    a = generate_description("dog", ["head", "tail"], np.random.default_rng(0), lacking=["wheel"])
    b = generate_description("dog", ["head", "tail"], np.random.default_rng(0), lacking=["wheel"])
    assert a == b


def test_bio_tags_and_decoding_round_trip() -> None:
    text = "The car has tail lights and wheels."
    # word-piece-like offsets, with [CLS] and [SEP] as (0, 0)
    offsets = [(0, 0), (0, 3), (4, 7), (8, 11), (12, 16), (17, 23), (24, 27), (28, 34), (34, 35), (0, 0)]
    spans = [(12, 23, "tail light"), (28, 34, "wheel")]
    tags = bio_tags(offsets, spans)
    assert tags == [O_TAG, O_TAG, O_TAG, O_TAG, B_TAG, I_TAG, O_TAG, B_TAG, O_TAG, O_TAG]
    assert char_spans(decode_tags(tags, offsets), offsets) == [(12, 23), (28, 34)]
    assert text[12:23] == "tail lights"


def test_decoding_rules() -> None:
    offs = [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert decode_tags([B_TAG, B_TAG, I_TAG, O_TAG], offs) == [(0, 1), (1, 3)]  # a B closes an open span
    assert decode_tags([O_TAG, I_TAG, I_TAG, O_TAG], offs) == [(1, 3)]  # a stray I opens one
    assert decode_tags([O_TAG, O_TAG, B_TAG, I_TAG], offs) == [(2, 4)]  # a trailing open span closes
    assert decode_tags([B_TAG, I_TAG], [(0, 1), (0, 0)]) == [(0, 1)]  # special tokens close spans


def test_span_f1_counts_exact_matches() -> None:
    assert span_f1([[(0, 3), (5, 8)]], [[(0, 3), (5, 9)]])["f1"] == pytest.approx(0.5)
    assert span_f1([[]], [[]])["f1"] == 1.0


def test_real_tokenizer_tags_round_trip() -> None:
    from mereo.text import get_encoder

    d = generate_description("bicycle", ["handlebar", "saddle", "wheel"], np.random.default_rng(1))
    te = get_encoder().tokens([d.text])
    offs = te.offsets[0]
    tags = bio_tags(offs, d.spans)
    assert char_spans(decode_tags(tags, offs), offs) == [(a, b) for a, b, _ in d.spans]
