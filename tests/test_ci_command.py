"""The README's test command is exactly what CI runs, and installs no recommended extras."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", section, re.S)
    test_command = [c for c in commands if "pytest" in c]
    assert len(test_command) == 1
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "pytest" in line]
    assert ci == test_command
    assert "apt-get install -y --no-install-recommends chromium" in ci[0]
