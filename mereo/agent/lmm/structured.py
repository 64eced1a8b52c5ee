"""What every model-backed planner shares: the prompts, the JSON checks and the repair round.

The hosted (``openai:<model>``) and local (``transformers:<model>``) planners differ only in how a
chat reaches the model and how images are attached. Both ask for the plan as JSON against
``mereo/prompts/plan.schema.json`` (system prompt ``understand.md``) and for part proposals
against ``parts.schema.json`` (``propose_parts.md``); an invalid reply gets one repair round
(``repair.md`` with the validation error), then a clear :class:`InvalidLMMResponseError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from mereo.errors import InvalidLMMResponseError, ValidationError
from mereo.knowledge.normalize import normalize
from mereo.plan import Plan, check_nesting, parse_plan
from mereo.plan_checks import check_plan
from mereo.prompts import load_schema, load_text, render
from mereo.types import validate

_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)

#: ``chat(messages) -> reply text``: one request to the model.
Chat = Callable[[list[dict[str, Any]]], str]
#: ``turn(role, text) -> message``: a text message in the backend's chat format.
Turn = Callable[[str, str], dict[str, Any]]


def plain_turn(role: str, text: str) -> dict[str, Any]:
    """A message whose content is a plain string (OpenAI chat format)."""
    return {"role": role, "content": text}


def history_text(history: Sequence[dict[str, Any]]) -> str:
    """Earlier turns of a thread as prompt lines (``(none)`` when there are none)."""
    if not history:
        return "(none)"
    lines = [f"- Q: {h.get('question', '')} -> parts: {', '.join(h.get('labels', []))}" for h in history]
    return "\n".join(lines)


def plan_system_prompt(n_images: int, history: Sequence[dict[str, Any]] = ()) -> str:
    """The system prompt that asks for a plan (``understand.md`` with the schema and history)."""
    schema = load_text("plan.schema.json")
    return render("understand.md", n_images=n_images, schema=schema, history=history_text(history))


def parts_prompt(obj: str, max_parts: int = 12) -> str:
    """The user prompt that asks for an object's usual parts (``propose_parts.md``)."""
    return render("propose_parts.md", object=obj, max_parts=max_parts)


def loads(reply: str, what: str, lenient: bool = False) -> Any:
    """Parse a JSON reply (code fences removed).

    Args:
        reply: the model's text.
        what: names the value in error messages.
        lenient: also accept the outermost ``{...}`` inside surrounding prose (small local models
            often add a sentence around the JSON).

    Raises:
        ValidationError: not JSON.
    """
    text = _FENCE.sub("", reply.strip())
    check_nesting(text)  # before json.loads, which would hit the recursion limit first
    try:
        return json.loads(text)
    except RecursionError as e:  # pragma: no cover - check_nesting refuses such text first
        raise ValidationError(f"the {what} nests too deep to read") from e
    except json.JSONDecodeError as e:
        start, end = text.find("{"), text.rfind("}")
        if lenient and 0 <= start < end:
            try:
                return json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                pass
        raise ValidationError(f"the {what} is not valid JSON ({e.msg} at character {e.pos})") from e


def plan_check(question: str, n_images: int, history: Sequence[dict[str, Any]] = ()) -> Callable[[Any], Plan]:
    """A check that turns parsed JSON into a :class:`Plan` for ``question`` over ``n_images`` images.

    The check raises ValidationError for a non-object, a plan that fails its schema, or one that
    breaks the checks beyond it (:func:`mereo.plan_checks.check_plan`: image indices in range,
    nesting depth, ``labels`` only after an earlier answer, ``returns`` fitting the operation).
    """

    def check(data: Any) -> Plan:
        if not isinstance(data, dict):
            raise ValidationError(f"the plan must be a JSON object, got {type(data).__name__}")
        return check_plan(parse_plan({**data, "question": question}), n_images, history)

    return check


def parts_check(data: Any) -> list[str]:
    """Parsed JSON -> normalised, de-duplicated part names (validated against parts.schema.json)."""
    validate(data, load_schema("parts.schema.json"), what="part proposal")
    return list(dict.fromkeys(n for n in (normalize(p) for p in data["parts"]) if n))


def ask_json(
    chat: Chat,
    messages: list[dict[str, Any]],
    check: Callable[[Any], Any],
    what: str,
    name: str,
    *,
    turn: Turn = plain_turn,
    lenient: bool = False,
) -> Any:
    """Send ``messages``; parse and ``check`` the JSON reply, with one repair round.

    Raises:
        InvalidLMMResponseError: the reply is still invalid after the repair round; the message
            names the model and the second error.
    """
    reply = chat(messages)
    try:
        return check(loads(reply, what, lenient))
    except ValidationError as first:
        repair = render("repair.md", error=str(first))
        messages = [*messages, turn("assistant", reply), turn("user", repair)]
        reply = chat(messages)
        try:
            return check(loads(reply, what, lenient))
        except ValidationError as second:
            raise InvalidLMMResponseError(
                f"the LMM {name} gave an invalid {what} twice (the second time after being shown "
                f"the error): {second}. Try a stronger model, or the offline planner (lmm='offline')."
            ) from second


def noted(plan: Plan, name: str) -> Plan:
    """The plan with ``"planned by <name>"`` added to its notes."""
    return plan.model_copy(update={"notes": [*plan.notes, f"planned by {name}"]})
