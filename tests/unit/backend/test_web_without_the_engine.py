"""The web process loads its URLs (every view) without the training engine: no torch, timm or backbones
(DESIGN.md: backend imports jobspecs and the workers' registries, never the engine for a page)."""
import os
import subprocess
import sys


def test_it_loads_every_url_without_importing_torch():
    code = ("import django, sys; django.setup(); import backend.project.urls; "
            "print(sorted(m for m in ('torch', 'timm', 'workers.engine', 'workers.models') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "DJANGO_SETTINGS_MODULE": "backend.project.settings_test"})
    assert out.stdout.strip().splitlines()[-1] == "[]"
