"""``statefile.dumps`` writes what ``json.dumps(value, sort_keys=True)`` writes, with the C encoder only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import REPO
from twinstar.fastpath.statefile import dumps, loads

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20)


@given(st.dictionaries(st.text(), VALUES, max_size=6))
def test_same_text_as_json_and_read_back(value: dict[str, object]) -> None:
    text = dumps(value)
    assert text == json.dumps(value, sort_keys=True)
    assert loads(text) == value


def test_what_json_cannot_write_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        dumps({"x": object()})


def test_without_loading_json_or_re() -> None:
    code = (
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\nfrom twinstar.fastpath.statefile import dumps\n"
        "print(dumps({'b': 1.5, 'a': ['\\u00e9', None]}), [m for m in ('json', 're') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-IS", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == '{"a": ["\\u00e9", null], "b": 1.5} []\n'
