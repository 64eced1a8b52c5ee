"""``transformers:<hub id or dir>``: a local vision-language model as the planner (no hosted service).

Any image-text-to-text model transformers loads with ``AutoModelForImageTextToText`` and whose
processor has a chat template (Qwen2.5-VL, Qwen2-VL, SmolVLM, Idefics3, LLaVA, ...). The prompt,
the JSON schema, the validation and the repair round are the hosted planner's
(:mod:`mereo.agent.lmm.structured`); images go into the chat as the model's own image entries.
Decoding is greedy with a token limit (``MEREO_LMM_MAX_NEW_TOKENS``, default
:data:`MAX_NEW_TOKENS`); the model runs on CUDA when present (bfloat16 there, float32 on the CPU).

Examples::

    PartAgent(lmm="transformers:Qwen/Qwen2.5-VL-3B-Instruct")   # in the local Hugging Face cache
    PartAgent(lmm="transformers:/models/smolvlm")                # a save_pretrained folder
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from mereo.agent.lmm.structured import (
    ask_json,
    noted,
    parts_check,
    parts_prompt,
    plan_check,
    plan_system_prompt,
)
from mereo.errors import ValidationError
from mereo.plan import Plan
from mereo.types import ImageRef

#: Most tokens generated per reply (a plan is usually 60-200 tokens).
MAX_NEW_TOKENS = 512
#: Images are shrunk to this longest side before they reach the processor (bounds the image tokens).
MAX_IMAGE_SIDE = 768


def text_turn(role: str, text: str) -> dict[str, Any]:
    """A chat message with one text entry (the format transformers chat templates expect)."""
    return {"role": role, "content": [{"type": "text", "text": text}]}


class LocalLMM:
    """A planner that runs a vision-language model in this process.

    Args:
        source: hub id or ``save_pretrained`` folder (model and processor).
        model: the loaded ``AutoModelForImageTextToText`` model.
        processor: its processor (with a chat template).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        max_new_tokens: the reply's token limit.
    """

    def __init__(
        self,
        source: str,
        model: Any,
        processor: Any,
        device: str = "auto",
        max_new_tokens: int = MAX_NEW_TOKENS,
    ):
        from mereo.device import resolve_device

        if getattr(processor, "chat_template", None) is None:
            raise ValidationError(
                f"the processor of {source} has no chat template; use an instruction-tuned model "
                "(e.g. Qwen/Qwen2.5-VL-3B-Instruct or HuggingFaceTB/SmolVLM-256M-Instruct)."
            )
        self.name = f"transformers:{source}"
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.max_new_tokens = max_new_tokens
        self.calls = 0

    # -- transport ----------------------------------------------------------------------------
    def _chat(self, messages: list[dict[str, Any]]) -> str:
        """Greedy generation for a chat; returns the new text only (special tokens removed)."""
        import torch

        self.calls += 1
        inputs = self.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        )
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        with torch.no_grad():
            out = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=self.processor.tokenizer.pad_token_id,
            )
        new = out[:, inputs["input_ids"].shape[1] :]
        return str(self.processor.batch_decode(new, skip_special_tokens=True)[0])

    def _ask(self, messages: list[dict[str, Any]], check: Any, what: str) -> Any:
        return ask_json(self._chat, messages, check, what, self.name, turn=text_turn, lenient=True)

    # -- LMM interface ------------------------------------------------------------------------
    def plan(self, question: str, images: Sequence[ImageRef], history: Sequence[dict[str, Any]] = ()) -> Plan:
        """Ask the model for a plan; see :class:`mereo.agent.lmm.base.LMM`.

        Raises:
            InvalidLMMResponseError: the reply is not a valid plan after the repair round.
        """
        content: list[dict[str, Any]] = [{"type": "image", "image": _small(im)} for im in images]
        content.append({"type": "text", "text": question})
        messages = [
            text_turn("system", plan_system_prompt(len(images), history)),
            {"role": "user", "content": content},
        ]
        return noted(self._ask(messages, plan_check(question, len(images), history), "plan"), self.name)

    def propose_parts(self, obj: str, images: Sequence[ImageRef] = ()) -> list[str]:
        """Ask the model for the usual parts of ``obj`` (validated against parts.schema.json)."""
        return self._ask([text_turn("user", parts_prompt(obj))], parts_check, "part proposal")


def _small(image: ImageRef) -> Any:
    """The image as PIL, shrunk to :data:`MAX_IMAGE_SIDE` on its longest side."""
    pil = image.pil()
    if max(pil.size) > MAX_IMAGE_SIDE:
        pil = pil.copy()
        pil.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    return pil


def build_local(arg: str | None, device: str = "auto") -> LocalLMM:
    """Builder for ``transformers:<hub id or dir>``.

    Raises:
        CheckpointError: no model named, a missing folder, or a hub id not on disk offline.
        ValidationError: the processor has no chat template.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from mereo.device import resolve_device
    from mereo.tools import hub

    source = hub.require_source(arg, "transformers")
    dtype = torch.bfloat16 if resolve_device(device).type == "cuda" else torch.float32
    model = hub.load(AutoModelForImageTextToText.from_pretrained, source, "transformers", dtype=dtype)
    processor = hub.load(AutoProcessor.from_pretrained, source, "transformers")
    limit = int(os.environ.get("MEREO_LMM_MAX_NEW_TOKENS", MAX_NEW_TOKENS))
    return LocalLMM(source, model, processor, device=device, max_new_tokens=limit)
