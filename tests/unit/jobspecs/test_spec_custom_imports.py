"""custom_imports (manual section 4.5): only modules on the server allowlist, never imported."""

import sys

from jobspecs import load_text
from jobspecs.loader import ALLOWLIST_ENV
from tests.support.spec_source import dedent, spec_error

SPEC = dedent("""
    custom_imports = dict(
        imports=['trainyard_plugins.datasets',
                 'your_model_class'],
        allow_failed_imports=False)
""")


def test_it_refuses_every_import_by_default():
    assert str(spec_error(load_text, SPEC, 'spec.py')) == (
        "spec.py:2:14: custom import 'trainyard_plugins.datasets' is not on this server's allowlist — "
        f'this server allows no custom imports (an admin can list modules in {ALLOWLIST_ENV})')


def test_it_points_at_the_first_module_off_the_allowlist(monkeypatch):
    monkeypatch.setenv(ALLOWLIST_ENV, 'trainyard_plugins.datasets, other')
    assert str(spec_error(load_text, SPEC, 'spec.py')) == (
        "spec.py:3:14: custom import 'your_model_class' is not on this server's allowlist — "
        'allowed here: trainyard_plugins.datasets, other')


def test_it_accepts_modules_on_the_allowlist_without_importing_them(monkeypatch):
    monkeypatch.setenv(ALLOWLIST_ENV, 'trainyard_plugins.*,your_model_class')
    spec = load_text(SPEC)
    assert spec['custom_imports']['imports'] == ['trainyard_plugins.datasets', 'your_model_class']
    assert 'trainyard_plugins' not in sys.modules and 'your_model_class' not in sys.modules


def test_it_checks_imports_added_by_cfg_options():
    error = spec_error(load_text, '', 'spec.py', ['custom_imports.imports=[os]'])
    assert (error.filename, error.lineno, error.message) == (
        '<cfg_options>', 1, "custom import 'os' is not on this server's allowlist")


def test_it_refuses_a_name_that_is_not_a_module(monkeypatch):
    monkeypatch.setenv(ALLOWLIST_ENV, 'x')
    error = spec_error(load_text, "custom_imports = dict(imports=['os; rm -rf /'])", 'spec.py')
    assert str(error) == "spec.py:1:32: 'os; rm -rf /' is not a module name — e.g. 'mypackage.datasets'"


def test_it_refuses_unknown_keys():
    error = spec_error(load_text, "custom_imports = dict(imports=[], exec='x')", 'spec.py')
    assert error.message == "custom_imports has no key 'exec'"
