"""Issue 18: the text-encoder error names a real install command and shows the import error.

"Real": every package the hint tells pip to install is one pyproject.toml declares, and no extra
(``zshbench[text]``) is named that pyproject does not define."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from zshbench.errors import ZshbenchError

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

PYPROJECT = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())


def _declared() -> set[str]:
    names = PYPROJECT["project"]["dependencies"]
    return {re.split(r"[<>=!~;\[ ]", name, maxsplit=1)[0].lower() for name in names}


def test_a_missing_sentence_transformers_names_pip_and_the_import_error(monkeypatch):
    pytest.importorskip("torch")
    from plugins.features import text_encoders

    text_encoders._load_sentence_model.cache_clear()
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import raises ImportError
    with pytest.raises(ZshbenchError) as caught:
        text_encoders._load_sentence_model("/nowhere", "cpu")
    text_encoders._load_sentence_model.cache_clear()
    message = str(caught.value)  # the one line a user sees: message and hint
    assert "sentence_transformers" in message  # the import error itself, not hidden
    [command] = re.findall(r"pip install ([^,]+)", message)
    packages = command.split()
    assert "sentence-transformers" in packages and set(packages) <= _declared()
    for extra in re.findall(r"zshbench\[(\w+)\]", message):
        assert extra in PYPROJECT["project"].get("optional-dependencies", {})
