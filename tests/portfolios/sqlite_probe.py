"""Run a case function on a fresh in-memory SQLite database in a child process (the embedded
mode's and the backtests' backend; the suite itself runs on PostgreSQL) and return its JSON.

Not collected by pytest.
"""

import json
import subprocess
import sys

_PROBE = """
import json
import django
django.setup()
from backtests.runner import fresh_database
fresh_database()
from {module} import {setup}
print(json.dumps({call}))
"""


def run_on_sqlite(module, setup, call):
    """``call`` (an expression over the names ``setup`` imports from ``module``), evaluated in a
    child on a fresh SQLite database; its JSON-decoded value."""
    from backtests.isolation import REPO, child_environment

    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module, setup=setup, call=call)],
        cwd=REPO,
        env=child_environment(seed=0),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
