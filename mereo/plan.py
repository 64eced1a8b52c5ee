"""The validated plan of one question: objects, a nested set expression over part sets, and what to return.

The set expression uses exactly the JSON format of :mod:`mereo.data.items` (SynthParts' gold
plans use it too), so ``plan.to_gold_format()`` can be compared with ``QAItem.gold_plan``:

- ``{"op": "parts", "object": "chair", "image": 0}`` (``image`` null when unknown)
- ``{"op": "kb_parts", "object": "stool"}``
- ``{"op": "intersect" | "union" | "difference" | "symmetric_difference", "args": [...]}``
- ``{"op": "part_to_whole", "part": "propeller", "images": [0]}``
- ``{"op": "whole_to_part", "image": 0}``
- ``{"op": "common_objects", "images": [0, 1]}``

One extension is used only for follow-up questions: ``{"op": "labels", "labels": [...]}``, a
constant set of part names (an earlier answer), without masks.

Three question kinds sit only at the root of a plan (never inside a set operation):

- ``{"op": "exists", "part": "beak", "of": [<parts>, ...], "quantifier": "all" | "any" | "none"}``:
  yes/no, does every / at least one / none of the named objects have the part ("both",
  "either", "neither"); ``returns`` ``"yes_no"``.
- ``{"op": "count", "part": "leg", "of": <parts>}``: how many instances of the part the object has;
  ``returns`` ``"count"``.
- ``{"op": "which", "part": "spout", "candidates": [<parts>, <parts>, ...]}``: which of the named
  objects have the part; ``returns`` ``"objects"``.

``<parts>`` is a ``{"op": "parts", ...}`` node. :mod:`mereo.plan_checks` checks a plan beyond
this schema (image indices in range, names, depth, follow-ups, returns).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from pydantic import ValidationError as PydanticValidationError

from mereo.errors import ValidationError

SET_OPS = ("intersect", "union", "difference", "symmetric_difference")
#: Operations that only stand at the root of a plan, and what each returns.
QUERY_OPS: dict[str, str] = {"exists": "yes_no", "count": "count", "which": "objects"}
Returns = Literal["parts", "objects", "yes_no", "count"]

#: a 0-based image index (negative indices would silently pick images from the end)
ImageIndex = Annotated[int, Field(ge=0)]


class _Expr(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartsExpr(_Expr):
    """The visible parts of a named object in one image (``image`` None: not said which)."""

    op: Literal["parts"]
    object: str = Field(min_length=1)
    image: int | None = Field(default=None, ge=0)


class KbPartsExpr(_Expr):
    """The knowledge base's parts of a named object that is not shown."""

    op: Literal["kb_parts"]
    object: str = Field(min_length=1)


class LabelsExpr(_Expr):
    """A constant set of part names (an earlier answer on the same thread), without masks."""

    op: Literal["labels"]
    labels: list[str]


class SetOpExpr(_Expr):
    """A set operation over two or more sub-expressions (difference: first minus the rest)."""

    op: Literal["intersect", "union", "difference", "symmetric_difference"]
    args: list[Expr] = Field(min_length=2)


class PartToWholeExpr(_Expr):
    """The objects in ``images`` that have ``part`` (returns objects)."""

    op: Literal["part_to_whole"]
    part: str = Field(min_length=1)
    images: list[ImageIndex] = Field(default_factory=lambda: [0], min_length=1)


class WholeToPartExpr(_Expr):
    """Recognise the unnamed object in ``image``, then give its visible parts."""

    op: Literal["whole_to_part"]
    image: int = Field(default=0, ge=0)


class CommonObjectsExpr(_Expr):
    """Object labels present in every one of ``images`` (returns objects)."""

    op: Literal["common_objects"]
    images: list[ImageIndex] = Field(min_length=1)


class ExistsExpr(_Expr):
    """Yes/no: do the objects of ``of`` have ``part``? ``quantifier``: ``all`` ("both"), ``any``
    ("either"), ``none`` ("neither"). Root only; returns ``yes_no``."""

    op: Literal["exists"]
    part: str = Field(min_length=1)
    of: list[PartsExpr] = Field(min_length=1)
    quantifier: Literal["all", "any", "none"] = "all"


class CountExpr(_Expr):
    """How many instances of ``part`` the object ``of`` has. Root only; returns ``count``."""

    op: Literal["count"]
    part: str = Field(min_length=1)
    of: PartsExpr


class WhichExpr(_Expr):
    """Which of the named ``candidates`` have ``part``. Root only; returns ``objects``."""

    op: Literal["which"]
    part: str = Field(min_length=1)
    candidates: list[PartsExpr] = Field(min_length=2)


Expr = Annotated[
    PartsExpr
    | KbPartsExpr
    | LabelsExpr
    | SetOpExpr
    | PartToWholeExpr
    | WholeToPartExpr
    | CommonObjectsExpr
    | ExistsExpr
    | CountExpr
    | WhichExpr,
    Field(discriminator="op"),
]
SetOpExpr.model_rebuild()
_EXPR_ADAPTER: TypeAdapter[Any] = TypeAdapter(Expr)


class PlanObject(BaseModel):
    """An object the question is about.

    Attributes:
        name: normalised object name (``"chair"``); ``None`` when the question does not name it
            (the recognizer fills it in).
        image: 0-based image index, or ``None`` when the question does not say.
        description: the sentence the span-tagging segmenter reads
            (``"The chair has a seat, a back and four legs."``), when planned.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    image: int | None = Field(default=None, ge=0)
    description: str | None = None


class Plan(BaseModel):
    """What the agent will do for one question.

    Attributes:
        question: the question as asked.
        objects: objects the question refers to, with image indices.
        expr: the set expression (see the module docstring).
        returns: ``"parts"``, ``"objects"``, ``"yes_no"`` (``exists``) or ``"count"`` (``count``).
        n_images: how many images the question refers to (``None``: unsaid).
        notes: planner remarks (e.g. how a phrase was grounded).
    """

    model_config = ConfigDict(extra="forbid")

    question: str = ""
    objects: list[PlanObject] = Field(default_factory=list)
    expr: Expr
    returns: Returns = "parts"
    n_images: int | None = Field(default=None, ge=0)
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _returns_match(self) -> Plan:
        want = expected_returns(self.expr)
        if want is not None and self.returns != want:
            raise ValueError(f"a {self.expr.op} plan returns {want}, not {self.returns}")
        return self

    # -- views ----------------------------------------------------------------------------------
    def expr_dict(self) -> dict[str, Any]:
        """The expression as the JSON dict format of :mod:`mereo.data.items`."""
        return expr_to_dict(self.expr)

    def to_gold_format(self) -> dict[str, Any]:
        """``{"expr": ..., "returns": ...}``, comparable with ``QAItem.gold_plan``."""
        return {"expr": self.expr_dict(), "returns": self.returns}

    def images_used(self) -> list[int]:
        """Sorted image indices the expression reads."""
        out: set[int] = set()
        for node in walk(self.expr):
            if isinstance(node, PartsExpr) and node.image is not None:
                out.add(node.image)
            elif isinstance(node, WholeToPartExpr):
                out.add(node.image)
            elif isinstance(node, (PartToWholeExpr, CommonObjectsExpr)):
                out.update(node.images)
        return sorted(out)


def children(expr: Any) -> list[Any]:
    """The direct sub-expressions of a node (set-operation arguments, a query's objects)."""
    if isinstance(expr, SetOpExpr):
        return list(expr.args)
    if isinstance(expr, ExistsExpr):
        return list(expr.of)
    if isinstance(expr, CountExpr):
        return [expr.of]
    if isinstance(expr, WhichExpr):
        return list(expr.candidates)
    return []


def walk(expr: Any) -> Iterator[Any]:
    """Every node of an expression, depth first, parents before children (no recursion, so a
    deeply nested expression cannot exhaust the stack)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def expected_returns(expr: Any) -> str | None:
    """What a plan with this root returns (``None``: a set operation over mixed kinds, or only
    ``labels``, which may be either; the checks of :mod:`mereo.plan_checks` look deeper)."""
    if isinstance(expr, (ExistsExpr, CountExpr, WhichExpr)):
        return QUERY_OPS[expr.op]
    if isinstance(expr, (PartToWholeExpr, CommonObjectsExpr)):
        return "objects"
    if isinstance(expr, (PartsExpr, KbPartsExpr, WholeToPartExpr)):
        return "parts"
    if isinstance(expr, SetOpExpr):
        kinds = {expected_returns(a) for a in expr.args} - {None}
        return kinds.pop() if len(kinds) == 1 else None
    return None


def expr_to_dict(expr: Any) -> dict[str, Any]:
    """Serialise an expression node to the items JSON format (all keys kept, nulls included)."""
    if isinstance(expr, SetOpExpr):
        return {"op": expr.op, "args": [expr_to_dict(a) for a in expr.args]}
    return expr.model_dump()


#: The deepest nesting of set operations a plan may have.
MAX_DEPTH = 8
#: JSON nesting that a plan of :data:`MAX_DEPTH` needs at most (an operation is a dict holding a list).
MAX_JSON_DEPTH = 2 * MAX_DEPTH + 4


def json_depth(data: Any) -> int:
    """Nesting depth of dicts and lists (a scalar is 0), without recursion."""
    best, stack = 0, [(data, 0)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, d + 1) for v in node)
        else:
            best = max(best, d)
            continue
        best = max(best, d + 1)
    return best


def text_depth(text: str | bytes) -> int:
    """Bracket nesting depth of JSON text (brackets inside strings ignored), without parsing it."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    depth = best = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


def check_nesting(data: Any) -> None:
    """Refuse input nested deeper than a plan of :data:`MAX_DEPTH` set operations can be.

    Raises:
        ValidationError: it nests deeper (checked before parsing, so no recursion limit is hit).
    """
    depth = text_depth(data) if isinstance(data, (str, bytes)) else json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise ValidationError(
            f"the plan nests {depth} levels of JSON deep; a plan nests set operations at most "
            f"{MAX_DEPTH} deep (about {MAX_JSON_DEPTH} levels of JSON). Flatten it."
        )


def parse_expr(data: Any) -> Any:
    """Validate a set-expression dict.

    Raises:
        ValidationError: with the failing path.
    """
    check_nesting(data)
    try:
        return _EXPR_ADAPTER.validate_python(data)
    except PydanticValidationError as e:
        raise ValidationError(f"invalid set expression: {_short(e)}") from e


def parse_plan(data: Any) -> Plan:
    """Validate a plan dict (or JSON string).

    Raises:
        ValidationError: the plan does not match its schema, or nests too deep; the message
            names the field.
    """
    check_nesting(data)
    try:
        if isinstance(data, (str, bytes)):
            return Plan.model_validate_json(data)
        return Plan.model_validate(data)
    except PydanticValidationError as e:
        raise ValidationError(f"invalid plan: {_short(e)}") from e


def _short(e: PydanticValidationError, limit: int = 3) -> str:
    parts = []
    for err in e.errors()[:limit]:
        loc = "/".join(str(x) for x in err.get("loc", ())) or "<root>"
        if len(loc) > 120:  # a deeply nested expression: keep the start and the failing end
            loc = f"{loc[:50]}/.../{loc[-60:]}"
        parts.append(f"{loc}: {err.get('msg')}")
    more = f" (and {e.error_count() - limit} more)" if e.error_count() > limit else ""
    return "; ".join(parts) + more


def plan_json_schema() -> dict[str, Any]:
    """The JSON schema of :class:`Plan` (what ``mereo/prompts/plan.schema.json`` holds)."""
    return Plan.model_json_schema()
