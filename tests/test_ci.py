"""CI runs what the README tells a new analyst to run, in the venv that command creates."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _readme_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_ci_runs_the_readme_commands_in_a_venv():
    commands = _readme_commands()
    assert commands[0].startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")
    assert commands[1] == "python3 -m pytest"
    script = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    code = [line for line in script if line and not line.startswith("#")]
    at = [code.index(c) for c in commands]  # each README command, verbatim, as a line of its own
    assert at == sorted(at)
    assert code[-1] == "python3 -m pytest"  # its exit status is the script's
    # nothing is installed outside the venv: every pip runs after the venv is activated
    assert all(i >= at[0] for i, line in enumerate(code) if re.search(r"\bpip\b", line))
