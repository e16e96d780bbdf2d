"""The example in docs/handlers.md runs as written: its handler, and its own tests."""

from __future__ import annotations

import re
from typing import Any

from tests.support import ROOT


def test_the_documented_example_and_its_tests_pass() -> None:
    text = (ROOT / "docs" / "handlers.md").read_text()
    section = text.split("## Example", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    namespace: dict[str, Any] = {"__name__": "handlers_example"}
    exec(compile(code, "docs/handlers.md", "exec"), namespace)  # our own documentation
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert len(tests) == 2
    for test in tests:
        test()
    assert namespace["answers"] == {"m-1": "yes"}
