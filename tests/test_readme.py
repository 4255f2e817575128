"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_readme_first_screen_has_the_install_and_test_commands():
    head = "\n".join(README.read_text().splitlines()[:20])
    assert "snakemake --cores 2" in head and "pip install -e" in head
    assert "python -m pytest" in head
