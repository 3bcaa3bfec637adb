"""Nothing in a spec ever runs: probes that would write a file if executed leave no file."""

import sys

import pytest

from jobspecs import load, load_text
from jobspecs.loader import ALLOWLIST_ENV
from tests.support.spec_source import spec_error

PROBES = [
    "x = open({probe!r}, 'w').write('x')",
    "import pathlib\npathlib.Path({probe!r}).touch()",
    "from pathlib import Path\nx = Path({probe!r}).touch()",
    "x = __import__('pathlib').Path({probe!r}).touch()",
    "x = [open({probe!r}, 'w') for _ in [0]]",
    "x = (lambda: open({probe!r}, 'w'))()",
    "x = f\"{{open({probe!r}, 'w')}}\"",
    "class A:\n    f = open({probe!r}, 'w')",
    "def f(a=open({probe!r}, 'w')):\n    pass",
    "@open({probe!r}, 'w').write\ndef f():\n    pass",
    "x = dict(a=open({probe!r}, 'w'))",
    "x = [1, 2][0:len(open({probe!r}, 'w').name)]",
    "if open({probe!r}, 'w'):\n    pass",
    "with open({probe!r}, 'w'):\n    pass",
    "x = exec(\"open({probe!r}, 'w')\")",
    "x = eval(\"open({probe!r}, 'w')\")",
    "x = (y := open({probe!r}, 'w'))",
    "x = 1 if open({probe!r}, 'w') else 2",
    "x = globals()['__builtins__']['open']({probe!r}, 'w')",
    "x = [*open({probe!r}, 'w')]",
    "x = {{**open({probe!r}, 'w')}}",
    "x = dict(**{{'a': open({probe!r}, 'w')}})",
    "x = {{_base_.x}}\ny = open({probe!r}, 'w')",
    "x = 1\nx.__class__.__init__ = open({probe!r}, 'w')",
    "try:\n    open({probe!r}, 'w')\nexcept Exception:\n    pass",
    "for a in [open({probe!r}, 'w')]:\n    pass",
    "open({probe!r}, 'w')",
    "x = breakpoint() or open({probe!r}, 'w')",
]


@pytest.mark.parametrize('template', PROBES)
def test_it_refuses_a_probe_and_leaves_no_file(template, tmp_path):
    probe = tmp_path / 'probe'
    text = template.format(probe=str(probe))
    spec_error(load_text, text)
    assert not probe.exists()


@pytest.mark.parametrize('template', [PROBES[0], PROBES[2], PROBES[3], PROBES[6], PROBES[10]])
def test_it_refuses_probes_that_really_write_when_run(template, tmp_path):
    # The control: the same text run by Python does write the file.
    probe = tmp_path / 'probe'
    text = template.format(probe=str(probe))
    spec_error(load_text, text)
    assert not probe.exists()
    exec(compile(text, 'probe', 'exec'), {})  # noqa: S102 - trusted test text, proving the probe works
    assert probe.exists()


def test_it_refuses_a_probe_in_a_base_file(lib, tmp_path):
    probe = tmp_path / 'probe'
    lib.write('base.py', f"x = open({str(probe)!r}, 'w')")
    child = lib.write('child.py', "_base_ = './base.py'")
    assert spec_error(load, child).filename == 'base.py'
    assert not probe.exists()


def test_it_never_imports_custom_imports(monkeypatch):
    monkeypatch.setenv(ALLOWLIST_ENV, 'this,antigravity')
    sys.modules.pop('this', None)
    spec = load_text("custom_imports = dict(imports=['this', 'antigravity'], allow_failed_imports=False)")
    assert spec['custom_imports']['imports'] == ['this', 'antigravity']
    assert 'this' not in sys.modules and 'antigravity' not in sys.modules


def test_it_keeps_a_string_that_names_code_as_a_string(tmp_path):
    probe = tmp_path / 'probe'
    spec = load_text(f"hook = \"open({str(probe)!r}, 'w')\"", cfg_options=[f'x=open({probe})'])
    assert spec['hook'] == f"open({str(probe)!r}, 'w')"
    assert not probe.exists()
