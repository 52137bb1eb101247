"""The README's worked example (forking a chapter for a new optimizer) runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "the README should contain the worked example"
    env = dict(os.environ, OPTIM_RESULTS_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", "\n".join(blocks)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "signsgd" in done.stdout and "adam" in done.stdout
    assert len(list((tmp_path / "quick").glob("*.json.gz"))) == 4


def test_make_test_is_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
