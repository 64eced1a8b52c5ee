"""``openai:<model>``: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama).

The base URL and key come from the environment: ``MEREO_LMM_BASE_URL`` (or ``OPENAI_BASE_URL``)
and ``MEREO_LMM_API_KEY`` (or ``OPENAI_API_KEY``). Images go as PNG data URLs; the plan is asked
for as JSON against ``mereo/prompts/plan.schema.json``. An invalid reply gets one repair round
with the validation error, then a clear :class:`~mereo.errors.InvalidLMMResponseError`.
The prompts, checks and repair round are shared with the local planner
(:mod:`mereo.agent.lmm.structured`). The client retries transient failures (connection errors,
429, 5xx) with exponential backoff.
"""

from __future__ import annotations

import base64
import io
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
from mereo.errors import (
    InvalidLMMResponseError,
    LMMRequestError,
    LMMUnavailableError,
    MereoError,
    ValidationError,
)
from mereo.plan import Plan
from mereo.prompts import load_schema, render
from mereo.types import ImageRef, validate


def image_data_url(image: ImageRef) -> str:
    """The image as a ``data:image/png;base64,...`` URL."""
    buf = io.BytesIO()
    image.pil().save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class HostedLMM:
    """A planner that asks a chat-completions endpoint for the plan.

    Args:
        model: the model name the endpoint serves (``"gpt-4o-mini"``, ``"qwen2.5-vl"``).
        base_url: the endpoint, e.g. ``"http://localhost:11434/v1"``; default from the environment.
        api_key: default from the environment; local servers accept any placeholder.
        timeout_s: seconds per request; ``retries``: retries with exponential backoff.

    Raises:
        MereoError: the ``openai`` package is missing, or no endpoint/key is configured.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        retries: int = 2,
    ):
        try:
            import openai
        except ImportError as e:  # pragma: no cover - the `hosted` extra
            raise MereoError(
                "the openai LMM backend needs the `openai` package: pip install 'mereo[hosted]'"
            ) from e
        if not model:
            raise ValidationError("name the model: lmm='openai:<model>', e.g. 'openai:gpt-4o-mini'")
        self.name = f"openai:{model}"
        self.model = model
        base_url = base_url or os.environ.get("MEREO_LMM_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        api_key = api_key or os.environ.get("MEREO_LMM_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if not base_url:
                raise LMMUnavailableError(
                    "the openai LMM backend needs an endpoint: set OPENAI_API_KEY for api.openai.com, or "
                    "MEREO_LMM_BASE_URL (e.g. http://localhost:11434/v1 for Ollama) for a local server."
                )
            api_key = "not-needed"  # vLLM and Ollama accept any key
        self._openai = openai
        self.client = openai.OpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=retries
        )
        self.timeout_s = timeout_s

    # -- transport ----------------------------------------------------------------------------
    def _chat(self, messages: list[dict[str, Any]]) -> str:
        oa = self._openai
        try:
            resp = self.client.chat.completions.create(  # type: ignore[call-overload]
                model=self.model, messages=messages, temperature=0, response_format={"type": "json_object"}
            )
        except oa.APITimeoutError as e:
            raise LMMUnavailableError(
                f"the LMM at {self.client.base_url} did not answer within "
                f"{self.timeout_s:g} s (after retries); raise lmm_timeout_s or check "
                "the server"
            ) from e
        except oa.APIConnectionError as e:
            raise LMMUnavailableError(
                f"could not reach the LMM at {self.client.base_url}: {e}. "
                "Is the server running, and is MEREO_LMM_BASE_URL right?"
            ) from e
        except oa.APIStatusError as e:
            raise _status_error(e.status_code, str(self.client.base_url), self.model, str(e)) from e
        if not resp.choices or resp.choices[0].message.content is None:
            raise InvalidLMMResponseError(f"the LMM {self.name} sent an empty reply")
        return resp.choices[0].message.content

    def _ask_json(self, messages: list[dict[str, Any]], check: Any, what: str) -> Any:
        """Send ``messages``; parse and ``check`` the JSON reply, with one repair round."""
        return ask_json(self._chat, messages, check, what, self.name)

    # -- LMM interface ------------------------------------------------------------------------
    def plan(self, question: str, images: Sequence[ImageRef], history: Sequence[dict[str, Any]] = ()) -> Plan:
        """Ask the endpoint for a plan; see :class:`mereo.agent.lmm.base.LMM`."""
        content: list[dict[str, Any]] = [{"type": "text", "text": question}]
        content += [{"type": "image_url", "image_url": {"url": image_data_url(im)}} for im in images]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": plan_system_prompt(len(images), history)},
            {"role": "user", "content": content},
        ]
        return noted(self._ask_json(messages, plan_check(question, len(images), history), "plan"), self.name)

    def examine(self, picture: ImageRef, label: str, obj: str, question: str = "") -> tuple[bool, str]:
        """Ask whether the highlighted region of ``picture`` is the ``label`` of the ``obj``.

        Returns:
            ``(accept, reason)``.

        Raises:
            InvalidLMMResponseError: the reply is malformed twice (the caller keeps the tools'
                decision).
        """
        schema = load_schema("examine.schema.json")
        text = render("examine.md", label=label, object=obj or "object", question=question or "(none)")
        content: list[dict[str, Any]] = [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": image_data_url(picture)}},
        ]

        def check(data: Any) -> tuple[bool, str]:
            validate(data, schema, what="mask verdict")
            return bool(data["accept"]), str(data.get("reason", ""))

        return self._ask_json([{"role": "user", "content": content}], check, "mask verdict")

    def propose_parts(self, obj: str, images: Sequence[ImageRef] = ()) -> list[str]:
        """Ask the endpoint for the usual parts of ``obj`` (validated against parts.schema.json)."""
        messages = [{"role": "user", "content": parts_prompt(obj)}]
        return self._ask_json(messages, parts_check, "part proposal")


#: HTTP 4xx statuses that mean the request (or the key) was refused, and what to do about it
_REFUSALS = {
    400: "refused the request as malformed (HTTP 400); the model may not accept images or "
    "response_format=json_object, choose a vision model that supports JSON replies",
    401: "refused the API key (HTTP 401); check MEREO_LMM_API_KEY or OPENAI_API_KEY",
    403: "refused access (HTTP 403); the key is not allowed to use model {model}",
    404: "has no model {model} or no chat-completions route (HTTP 404); check the model name and "
    "MEREO_LMM_BASE_URL (it usually ends in /v1)",
    413: "refused the request as too large (HTTP 413); use fewer or smaller images",
    422: "refused the request as invalid (HTTP 422); the model may not accept images or JSON replies",
}


def _status_error(status: int, url: str, model: str, detail: str) -> MereoError:
    """The error for an HTTP error status: a refusal (4xx) or an unavailable server (429, 5xx)."""
    detail = " ".join(detail.split())[:300]
    if status in _REFUSALS:
        why = _REFUSALS[status].format(model=model)
        return LMMRequestError(f"the LMM at {url} {why}. Server said: {detail}")
    if 400 <= status < 500 and status != 429:
        return LMMRequestError(f"the LMM at {url} refused the request (HTTP {status}): {detail}")
    return LMMUnavailableError(f"the LMM at {url} answered HTTP {status}: {detail}")


def build_hosted(arg: str | None, timeout_s: float = 60.0, retries: int = 2) -> HostedLMM:
    """Builder for ``openai:<model>``."""
    return HostedLMM(arg or "", timeout_s=timeout_s, retries=retries)
