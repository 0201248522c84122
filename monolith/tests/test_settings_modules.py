"""One codebase, three processes: each settings module serves its seam's paths and no other's."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

PATHS = {"polls": "/api/polls/", "choices": "/api/choices/", "votes": "/api/votes/"}
RESOLVES = """
import json, django
from django.urls import Resolver404, resolve
django.setup()
served = {}
for seam, path in %r.items():
    try:
        resolve(path)
        served[seam] = True
    except Resolver404:
        served[seam] = False
print(json.dumps(served))
"""


@pytest.mark.parametrize("seam", PATHS)
def test_each_settings_module_serves_its_seam_alone(seam: str) -> None:
    env = {"DJANGO_SETTINGS_MODULE": f"monolith.settings_{seam}", "PATH": "/usr/bin:/bin"}
    answer = subprocess.run([sys.executable, "-c", RESOLVES % PATHS], env=env, cwd=Path(__file__).parents[1],
                            capture_output=True, text=True, check=True)
    assert json.loads(answer.stdout) == {other: other == seam for other in PATHS}
