"""Errors raised by Mereo.

Every error a user can trigger is a :class:`MereoError` subclass whose message says what was
wrong and what to do about it.
"""

from __future__ import annotations


def excerpt(text: str, limit: int = 120) -> str:
    """``text`` quoted for an error message, cut to about ``limit`` characters.

    A long text keeps its start and says how long it was, so a 10,000-word question does not
    fill the error message:

    >>> excerpt("Which parts do they share?")
    "'Which parts do they share?'"
    >>> excerpt("word " * 1000, limit=20)
    "'word word word word ...' (1000 words)"
    """
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return repr(text)
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return f"{cut + ' ...'!r} ({len(text.split())} words)"


class MereoError(Exception):
    """Base class of every error Mereo raises on purpose."""


class InvalidImageError(MereoError, ValueError):
    """An image could not be read or is not usable (missing, not an image, truncated, too small)."""


class UnknownBackendError(MereoError, KeyError):
    """A backend name is not in the tool family's registry."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class CheckpointError(MereoError):
    """A checkpoint is missing, corrupt, of the wrong format, or fails its sha256 check."""


class InvalidLMMResponseError(MereoError):
    """The LMM replied with something that is not valid against the expected schema."""


class UnknownObjectError(MereoError, KeyError):
    """An object name could not be grounded in the knowledge base."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ValidationError(MereoError, ValueError):
    """A value failed validation against a JSON schema at a tool or LMM boundary."""


class QuestionError(MereoError, ValueError):
    """A question could not be understood, or does not fit the images given."""


class DatasetError(MereoError, ValueError):
    """A dataset file is missing or not in the expected format."""


class LMMUnavailableError(MereoError):
    """The LMM endpoint could not be reached in time (connection refused, timeout, server error)."""


class UsageError(MereoError, ValueError):
    """A command-line option or argument cannot be used as given (e.g. ``--out`` names a file)."""


class LMMRequestError(MereoError):
    """The LMM endpoint refused the request itself (HTTP 4xx: a bad request, a refused key, no such model)."""


class ToolError(MereoError):
    """A tool backend failed unexpectedly; the message names the backend, the step and the cause."""


class DeviceError(MereoError, ValueError):
    """The device asked for does not exist here (``--device cuda`` without a GPU, an unknown name)."""
