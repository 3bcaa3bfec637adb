"""What a spec may not write: each refusal names file:line:col and says what to write instead."""

import pytest

from jobspecs import load_text
from tests.support.spec_source import spec_error

CALL_HINT = 'a spec can only call dict(), list() and tuple(); write the value itself'
IMPORT_HINT = ("a spec cannot load code; modules on the server allowlist go in "
               "custom_imports = dict(imports=['package.module'])")

REFUSALS = [
    ('import os', f'spec.py:1:1: import statements are not allowed — {IMPORT_HINT}'),
    ('from os import path', f'spec.py:1:1: import statements are not allowed — {IMPORT_HINT}'),
    ("x = osp.join(root, 'server_list.conf')",
     f"spec.py:1:5: attribute access 'osp.join' is not allowed — {CALL_HINT}"),
    ('x = cfg.lr', "spec.py:1:5: attribute access 'cfg.lr' is not allowed — "
                   'write the value itself (e.g. the joined path as one string)'),
    ('x = _base_.model', "spec.py:1:5: attribute access '_base_.model' is not allowed — "
                         'refer to a base variable as {{_base_.model}}'),
    ("x = open('/tmp/probe', 'w')", f"spec.py:1:5: calling 'open()' is not allowed — {CALL_HINT}"),
    ("x = eval('1')", f"spec.py:1:5: calling 'eval()' is not allowed — {CALL_HINT}"),
    ("x = __import__('os')", "spec.py:1:5: name '__import__' is not allowed — names starting with '__' are reserved"),
    ('x = __builtins__', "spec.py:1:5: name '__builtins__' is not allowed — names starting with '__' are reserved"),
    ('__all__ = 1', "spec.py:1:1: name '__all__' is not allowed — names starting with '__' are reserved"),
    ('x = lambda: 1', 'spec.py:1:5: lambda expressions are not allowed — a spec holds data, not functions'),
    ('x = [i for i in (1, 2)]', 'spec.py:1:5: comprehensions are not allowed — write the elements out one by one'),
    ('x = {k: 1 for k in "ab"}', 'spec.py:1:5: comprehensions are not allowed — write the elements out one by one'),
    ('x = list(i for i in (1, 2))', 'spec.py:1:9: comprehensions are not allowed — write the elements out one by one'),
    ("x = f'{1 + 1}'", "spec.py:1:5: f-strings with expressions are not allowed — join strings with +, "
                       "e.g. 'work_dirs/' + name"),
    ('x = (y := 1)', 'spec.py:1:6: assignment expressions (:=) are not allowed — assign on a line of its own: name = value'),
    ('x = 1 if True else 2', 'spec.py:1:5: conditional expressions are not allowed — write the value you want'),
    ('x = 1 < 2', 'spec.py:1:5: comparisons are not allowed — write True or False directly'),
    ('x = True and False', "spec.py:1:5: 'and' and 'or' are not allowed — write True or False, or the value you want"),
    ('x = not True', "spec.py:1:5: operator 'not' is not allowed — only - and + can be written before a number"),
    ('x = 1 << 40', "spec.py:1:5: operator '<<' is not allowed — only + - * / // % ** on numbers, + and * on strings and lists"),
    ("x = '%s' % 'a'", 'spec.py:1:5: unsupported operand types for %: str and str'),
    ('x = {1, 2}', 'spec.py:1:5: sets are not allowed — use a list [...] or a tuple (...)'),
    ('x = {{ foo }}', 'spec.py:1:5: {{ ... }} must be a reference to a base variable — write {{_base_.name}}, '
                      'e.g. {{_base_.train_pipeline}}'),
    ('x = [1, 2][0:1]', 'spec.py:1:12: slices are not allowed — index with one key or number, e.g. name[0]'),
    ('x = dict(*[1])', 'spec.py:1:10: starred arguments are not allowed — pass the value itself: dict(value)'),
    ("x = dict(**{'a': 1}, a=2)", "spec.py:1:22: key 'a' is given twice in dict() — give each key once"),
    ("x = b'raw'", "spec.py:1:5: bytes literals are not allowed — use a str: 'text'"),
    ('x = 1j', 'spec.py:1:5: complex numbers are not allowed — use an int or a float'),
    ('x = [...]', "spec.py:1:6: '...' is not allowed — write the value in full"),
    ('x = {1: 2}', "spec.py:1:6: dict keys must be strings, not int — quote the key: {'1': ...}"),
    ('x = y', "spec.py:1:5: name 'y' is not defined"),
    ("lr_config = 1\nx = lr_confg", "spec.py:2:5: name 'lr_confg' is not defined — did you mean 'lr_config'?"),
    ('x = dict', "spec.py:1:5: 'dict' can only be called, as dict(...)"),
    ('dict = 1', "spec.py:1:1: 'dict' cannot be assigned — 'dict' is reserved; choose another name"),
    ('a, b = 1, 2', 'spec.py:1:1: unpacking assignments are not allowed — assign one name per line: a = 1'),
    ('x = dict()\nx.y = 1', 'spec.py:2:1: assigning to an attribute (x.y) is not allowed — '
                            'assign the whole value: name = dict(key=value)'),
    ("x = dict()\nx['y'] = 1", "spec.py:2:1: assigning to an item (x['y']) is not allowed — "
                               'assign the whole value, or override it with cfg_options'),
    ('x: int = 1', 'spec.py:1:1: annotated assignments are not allowed — write name = value'),
    ('x = 1\nx += 1', 'spec.py:2:1: augmented assignment is not allowed — write name = name + value'),
    ('if True:\n    x = 1', 'spec.py:1:1: if statements are not allowed — write the value you want; '
                            'vary it with cfg_options or a sweep'),
    ('for i in (1, 2):\n    x = i', 'spec.py:1:1: loops are not allowed — write the elements out one by one'),
    ('while False:\n    pass', 'spec.py:1:1: loops are not allowed — write the elements out one by one'),
    ('def f():\n    return 1', 'spec.py:1:1: function definitions are not allowed — a spec holds data only; '
                               'write the value itself'),
    ('class A:\n    pass', 'spec.py:1:1: class definitions are not allowed — a spec holds data only; '
                           'write the value itself'),
    ("with open('x') as f:\n    pass", 'spec.py:1:1: with statements are not allowed — a spec cannot open files or contexts'),
    ('global x', 'spec.py:1:1: global statements are not allowed — assign module-level names directly'),
    ('x = 1\ndel x', 'spec.py:2:1: del statements are not allowed — to drop what a base defines, '
                     'write name = dict(_delete_=True, ...)'),
    ('pass', 'spec.py:1:1: pass statements are not allowed — remove it'),
    ("print('hi')", f"spec.py:1:1: calling 'print()' is not allowed — {CALL_HINT}"),
    ('1 + 1', 'spec.py:1:1: a bare expression does nothing in a spec — assign it to a name: name = ...'),
    ('x = dict(a=1', "spec.py:1:9: '(' was never closed — a spec is written in Python syntax"),
    ("_base_ = [./_base_/schedules/imagenet_bs256_coslr.py]",
     'spec.py:1:11: invalid syntax — a spec is written in Python syntax'),
]


@pytest.mark.parametrize(('text', 'message'), REFUSALS, ids=[t for t, _ in REFUSALS])
def test_it_refuses_with_position_and_hint(text, message):
    assert str(spec_error(load_text, text, 'spec.py')) == message


def test_it_refuses_the_memcached_example_of_the_manual():
    # Manual section 7.1.1 computes paths with osp.join, which needs an import.
    text = ("memcached_root = '/mnt/xxx/memcached_client/'\n"
            'train_pipeline = [\n'
            '    dict(\n'
            "        type='LoadImageFromFile',\n"
            '        file_client_args=dict(\n'
            "            backend='memcached',\n"
            "            server_list_cfg=osp.join(memcached_root, 'server_list.conf'),\n"
            "            client_cfg=osp.join(memcached_root, 'client.conf')),\n"
            '    )\n'
            ']\n')
    error = spec_error(load_text, text, 'spec.py')
    assert (error.lineno, error.col) == (7, 29)
    assert error.message == "attribute access 'osp.join' is not allowed"


def test_it_reports_names_the_manual_leaves_as_placeholders():
    # Manual section 10.2.2 writes a=a_value; a spec must give the value.
    error = spec_error(load_text, "custom_hooks = [dict(type='MMCVHook', a=a_value)]", 'spec.py')
    assert str(error) == "spec.py:1:41: name 'a_value' is not defined"


def test_it_refuses_the_elided_pipeline_of_the_manual():
    error = spec_error(load_text, 'test_pipeline = [...]', 'spec.py')
    assert str(error) == "spec.py:1:18: '...' is not allowed — write the value in full"
