"""Tiny randomly initialised transformers checkpoints in the real formats, for the full-size backends.

Each ``save_tiny_*`` writes a ``save_pretrained`` folder (model, processor, tokenizer) built from a
small config and a tokenizer made here (no downloads): SAM 3, OWLv2, Grounding DINO and a
Qwen2-VL vision-language model. The weights are random (seeded); tests check the loading, one
forward pass, the conversion to Mereo's types, the cache and the error paths, not the quality.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

CHARS = list(string.ascii_lowercase) + list("0123456789.,'!?-:")


def clip_tokenizer() -> object:
    """A character-level CLIP tokenizer (letters, digits and a little punctuation)."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for c in CHARS:
        vocab[c] = len(vocab)
    for c in CHARS:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def _clip_text(**extra: object) -> dict[str, object]:
    """A 1-layer 32-wide CLIP text tower config over :func:`clip_tokenizer`'s vocabulary, plus ``extra``."""
    return dict(
        vocab_size=len(CHARS) * 2 + 2,
        bos_token_id=len(CHARS) * 2,
        eos_token_id=len(CHARS) * 2 + 1,
        pad_token_id=len(CHARS) * 2 + 1,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        **extra,
    )


def bert_tokenizer(folder: Path) -> object:
    """A word-piece BERT tokenizer over single characters."""
    from transformers import BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARS, *(f"##{c}" for c in CHARS)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    return BertTokenizer(vocab=str(folder / "vocab.txt"))


def save_tiny_sam3(folder: Path) -> Path:
    """A SAM 3 with a 2-layer 32-wide ViT on 56 x 56 inputs, 8 queries."""
    from transformers import Sam3Config, Sam3ImageProcessor, Sam3Model, Sam3Processor

    vit = dict(
        model_type="sam3_vit_model",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=56,
        patch_size=14,
        window_size=2,
        global_attn_indexes=[1],
        pretrain_image_size=28,
    )
    small = dict(hidden_size=32, num_attention_heads=2, intermediate_size=64)
    cfg = Sam3Config(
        vision_config=dict(
            backbone_config=vit, fpn_hidden_size=32, backbone_feature_sizes=[[16, 16], [8, 8], [4, 4]]
        ),
        text_config=_clip_text(model_type="clip_text_model", projection_dim=32, max_position_embeddings=32),
        geometry_encoder_config=dict(num_layers=1, **small),
        detr_encoder_config=dict(num_layers=1, **small),
        detr_decoder_config=dict(num_layers=1, num_queries=8, **small),
        mask_decoder_config=dict(hidden_size=32, num_attention_heads=2),
    )
    torch.manual_seed(0)
    Sam3Model(cfg).eval().save_pretrained(folder)
    image_processor = Sam3ImageProcessor(
        size={"height": 56, "width": 56}, mask_size={"height": 16, "width": 16}
    )
    Sam3Processor(image_processor=image_processor, tokenizer=clip_tokenizer()).save_pretrained(folder)
    return folder


def save_tiny_owlv2(folder: Path) -> Path:
    """An OWLv2 with 1-layer 32-wide text and vision towers on 32 x 32 inputs (16 patches)."""
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    cfg = Owlv2Config(
        text_config=_clip_text(max_position_embeddings=16),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=32,
    )
    torch.manual_seed(0)
    Owlv2ForObjectDetection(cfg).eval().save_pretrained(folder)
    image_processor = Owlv2ImageProcessor(size={"height": 32, "width": 32})
    Owlv2Processor(image_processor=image_processor, tokenizer=clip_tokenizer()).save_pretrained(folder)
    return folder


def save_tiny_grounding_dino(folder: Path) -> Path:
    """A Grounding DINO with a tiny Swin backbone, a 1-layer BERT and 1-layer encoder/decoder, 10 queries."""
    from transformers import (
        BertConfig,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    backbone = SwinConfig(
        image_size=64,
        patch_size=4,
        embed_dim=16,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 2, 2],
        window_size=2,
        out_features=["stage2", "stage3", "stage4"],
    )
    text = BertConfig(
        vocab_size=5 + 2 * len(CHARS),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    cfg = GroundingDinoConfig(
        backbone_config=backbone,
        text_config=text,
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        num_queries=10,
        num_feature_levels=3,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=256,
    )
    torch.manual_seed(0)
    GroundingDinoForObjectDetection(cfg).eval().save_pretrained(folder)
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=bert_tokenizer(folder)).save_pretrained(
        folder
    )
    return folder


#: The pieces the scripted tiny VLM emits, in order: together a valid plan for one chair in image 1.
PLAN_PIECES = (
    '{"objects": [{"name": "chair", "image": 0}], ',
    '"expr": {"op": "parts", "object": "chair", "image": 0}, ',
    '"returns": "parts"}',
)
VLM_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def save_tiny_vlm(folder: Path, script: tuple[str, ...] | None = None) -> Path:
    """A Qwen2-VL with a byte-level tokenizer, a 1-layer decoder and a 1-block vision tower.

    With ``script=None`` the weights are random (its replies are gibberish). With ``script`` (text
    pieces, each added to the vocabulary as one token) the decoder is wired as a lookup table: its
    layer's output projections are zero, so each position's state is its token's embedding (one-hot,
    hidden size >= vocabulary), and the output head maps the prompt's last token ("\\n" after
    "assistant") to the first piece, each piece to the next and the last to end-of-turn. Greedy
    decoding then replies exactly ``"".join(script)`` whatever the images, through the real
    generate / decode path.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    byte_chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(byte_chars)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = ["<|im_end|>", "<|endoftext|>", "<|im_start|>", "<|vision_start|>", "<|vision_end|>"]
    specials += ["<|image_pad|>", "<|video_pad|>"]
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": specials})
    if script:
        tok.add_tokens(list(script))
    ids = {s: tok.convert_tokens_to_ids(s) for s in specials}
    hidden = 288 if len(tok) <= 288 else 8 * (len(tok) // 8 + 1)
    cfg = Qwen2VLConfig(
        text_config=dict(
            vocab_size=len(tok),
            hidden_size=hidden if script else 32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=32768,
            rope_scaling={"type": "mrope", "mrope_section": [24, 24, 24] if script else [2, 3, 3]},
            bos_token_id=ids["<|im_start|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            depth=1,
            embed_dim=32,
            hidden_size=hidden if script else 32,  # the merger's output: the decoder's width
            num_heads=2,
            mlp_ratio=2,
            patch_size=14,
            spatial_merge_size=2,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(cfg).eval()
    if script:
        with torch.no_grad():
            lm = model.model.language_model
            lm.embed_tokens.weight.zero_()
            lm.embed_tokens.weight[:, : len(tok)] = torch.eye(len(tok))
            for layer in lm.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            head = model.lm_head.weight
            head.zero_()
            chain = [tok.convert_tokens_to_ids("Ċ"), *(tok.convert_tokens_to_ids(p) for p in script)]
            chain.append(ids["<|im_end|>"])
            for a, b in zip(chain, chain[1:], strict=False):
                head[b, a] = 10.0
    model.save_pretrained(folder)
    image_processor = Qwen2VLImageProcessor(
        min_pixels=28 * 28, max_pixels=56 * 56, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    processor = Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=VLM_TEMPLATE,
    )
    processor.save_pretrained(folder)
    return folder
