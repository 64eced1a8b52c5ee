"""Registry: name parsing, sorted names, the unknown-name error, entries added later."""

from __future__ import annotations

import pytest

from mereo.errors import MereoError, UnknownBackendError
from mereo.registry import Registry


def _builder(ctx, arg):
    return (ctx, arg)


def test_build_passes_context_and_the_argument_after_the_first_colon():
    reg = Registry("colour", {"red": _builder})
    assert reg.build("red", "ctx") == ("ctx", None)
    assert reg.build("red:dark:/x", "ctx") == ("ctx", "dark:/x")
    assert reg.lookup("red:") == (_builder, None)


def test_unknown_name_lists_the_known_names_and_the_hint():
    reg = Registry("colour", {"red": _builder, "blue": _builder}, hint="Try 'red:dark'.")
    with pytest.raises(UnknownBackendError) as e:
        reg.build("green", None)
    assert isinstance(e.value, MereoError)
    assert str(e.value) == "unknown colour backend 'green'; known backends: blue, red. Try 'red:dark'."


def test_the_registry_sees_entries_added_to_its_dict_later():
    builders = {"red": _builder}
    reg = Registry("colour", builders)
    builders["blue"] = _builder
    assert reg.names() == ["blue", "red"]
    assert "blue:x" in reg and "green" not in reg
