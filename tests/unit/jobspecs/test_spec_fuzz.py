"""Fuzzing: whatever text or options arrive, the loader answers with data or a SpecError.

Three generators: arbitrary text, programs assembled from a grammar that mixes what
a spec may write with what it may not (calls, imports, attributes, huge numbers,
base references, escaping paths), and cfg_options strings. A probe file path
appears in the dangerous fragments; it must never be created.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobspecs import SpecError, dumps, load_text, parse_cfg_options, parse_name, spec_hash, validate

PROBE = Path(tempfile.gettempdir()) / 'trainyard-jobspecs-fuzz-probe'
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None,
                derandomize=True)
PLAIN_TYPES = (dict, list, tuple, str, int, float, bool, type(None))


def _assert_plain(value, depth=0):
    assert depth < 60
    assert type(value) in PLAIN_TYPES
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str and key != '_delete_'
            _assert_plain(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _assert_plain(item, depth + 1)


def _load_or_spec_error(text, cfg_options=None):
    try:
        spec = load_text(text, 'fuzz.py', cfg_options)
    except SpecError as error:
        assert type(error) is SpecError
        assert 'internal error' not in error.message, str(error)
        assert str(error).startswith('fuzz.py') or str(error).startswith('<cfg_options>')
        return None
    _assert_plain(spec)
    assert '_base_' not in spec
    return spec


# -- programs --------------------------------------------------------------------------

NAMES = st.sampled_from(['a', 'b', 'x', 'model', 'img_norm_cfg', 'train_pipeline', 'dict', 'list',
                         'tuple', 'open', 'eval', '__import__', '_base_', 'osp', 'True'])
ATOMS = st.one_of(
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70).map(str),
    st.floats(allow_nan=False).map(repr),
    st.sampled_from(['1e308', '1e999', '0.5', '-0.0', '10**10**10', "'a'*10**9", '...', "b'x'", '1j',
                     "'{{_base_.x}}'", '{{_base_.model}}', '{{ _base_.model.backbone.depth }}', '{{x}}',
                     f"open({str(PROBE)!r}, 'w')", f"__import__('pathlib').Path({str(PROBE)!r}).touch()",
                     "f'{1}'", "f'plain'", 'None', 'False']),
    st.text(max_size=8).map(repr),
    NAMES,
)


def _combine(children):
    ops = st.sampled_from(['+', '-', '*', '/', '//', '%', '**', '<<', '@', '|', 'and', '<'])
    return st.one_of(
        st.tuples(children, ops, children).map(lambda t: f'({t[0]} {t[1]} {t[2]})'),
        st.tuples(st.sampled_from(['-', '+', 'not ', '~']), children).map(lambda t: f'{t[0]}{t[1]}'),
        st.lists(children, max_size=4).map(lambda xs: '[' + ', '.join(xs) + ']'),
        st.lists(children, max_size=3).map(lambda xs: '(' + ', '.join(xs) + ',)'),
        st.lists(st.tuples(st.sampled_from(['k', 'type', '_delete_', 'lr']), children), max_size=3)
        .map(lambda kv: 'dict(' + ', '.join(f'{k}={v}' for k, v in kv) + ')'),
        st.lists(st.tuples(children, children), max_size=3)
        .map(lambda kv: '{' + ', '.join(f'{k}: {v}' for k, v in kv) + '}'),
        st.tuples(NAMES, children).map(lambda t: f'{t[0]}({t[1]})'),
        st.tuples(children, children).map(lambda t: f'{t[0]}[{t[1]}]'),
        st.tuples(children, NAMES).map(lambda t: f'{t[0]}.{t[1]}'),
        children.map(lambda c: f'dict(**{c})'),
        children.map(lambda c: f'[*{c}]'),
        children.map(lambda c: f'lambda: {c}'),
        children.map(lambda c: f'[q for q in {c}]'),
        children.map(lambda c: f'(w := {c})'),
        st.tuples(children, children, children).map(lambda t: f'({t[0]} if {t[1]} else {t[2]})'),
    )


EXPRESSIONS = st.recursive(ATOMS, _combine, max_leaves=12)
BASES = st.sampled_from(["'../_base_/models/resnet50.py'", "'../_base_/default_runtime.py'",
                         "'../../../../etc/passwd.py'", "'/etc/passwd'", "'./spec.py'", "1",
                         "'../_base_/datasets/cifar10_bs16.py'", "'../resnet/resnet18_8xb16_cifar10.py'"])
STATEMENTS = st.one_of(
    st.tuples(NAMES, EXPRESSIONS).map(lambda t: f'{t[0]} = {t[1]}'),
    st.lists(BASES, max_size=3).map(lambda bs: '_base_ = [' + ', '.join(bs) + ']'),
    EXPRESSIONS,
    st.sampled_from(['import os', 'from os import path', 'global a', 'del a', 'pass', 'a += 1',
                     'if a:\n    b = 1', 'for i in a:\n    pass', 'def f():\n    return 1',
                     'class C:\n    pass', f"with open({str(PROBE)!r}, 'w') as f:\n    pass", 'a, b = 1, 2',
                     'a: int = 1', '"""doc"""']),
)
PROGRAMS = st.lists(STATEMENTS, max_size=6).map('\n'.join)


@FUZZ
@given(PROGRAMS)
def test_it_answers_generated_programs_with_data_or_a_spec_error(program):
    _load_or_spec_error(program)
    assert not PROBE.exists()


@FUZZ
@given(st.text(max_size=300))
def test_it_answers_random_text_with_data_or_a_spec_error(text):
    _load_or_spec_error(text)


@FUZZ
@given(st.binary(max_size=200))
def test_it_answers_random_bytes_with_data_or_a_spec_error(data):
    _load_or_spec_error(data)


@FUZZ
@given(st.lists(st.one_of(
    st.text(max_size=40),
    st.tuples(st.sampled_from(['model.backbone.depth', 'data.train.pipeline.1.size', 'workflow', 'a..b',
                               'runner', 'x.0', '_base_', '1a']),
              st.text(alphabet='[](),=\'" ab01.-e', max_size=20)).map(lambda t: f'{t[0]}={t[1]}'),
), max_size=4))
def test_it_answers_random_cfg_options_with_data_or_a_spec_error(options):
    _load_or_spec_error("_base_ = '../resnet/resnet18_8xb16_cifar10.py'", options)
    try:
        parse_cfg_options(options)
    except SpecError:
        pass


# -- round trips -----------------------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 63), max_value=2 ** 63),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
KEYS = st.text(max_size=10).filter(lambda k: k != '_delete_')
VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.lists(children, max_size=4).map(tuple),
    st.dictionaries(KEYS, children, max_size=4),
), max_leaves=20)
NAMES_AT_TOP = st.from_regex(r'[a-z_][a-z0-9_]{0,8}', fullmatch=True).filter(
    lambda k: k not in ('dict', 'list', 'tuple', '_base_', '_delete_') and not k.startswith('__')
    and k not in ('if', 'in', 'is', 'as', 'or', 'and', 'def', 'del', 'for', 'not', 'try', 'else', 'elif',
                  'from', 'with', 'pass', 'class', 'while', 'yield', 'break', 'raise', 'async', 'await',
                  'import', 'global', 'return', 'lambda', 'assert', 'except', 'finally', 'continue',
                  'nonlocal'))
SPECS = st.dictionaries(NAMES_AT_TOP, VALUES, max_size=5)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(SPECS)
def test_it_loads_dumped_python_back_to_the_same_spec(spec):
    again = load_text(dumps(spec))
    assert again == spec
    assert spec_hash(again) == spec_hash(spec)
    assert _same_types(again, spec)


def _same_types(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return all(_same_types(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    return True


# -- validate and parse_name never raise -----------------------------------------------

SCHEMA_KEYS = st.sampled_from(['model', 'data', 'evaluation', 'optimizer', 'optimizer_config', 'lr_config',
                               'momentum_config', 'runner', 'checkpoint_config', 'log_config', 'custom_hooks',
                               'workflow', 'load_from', 'resume_from', 'dist_params', 'log_level', 'work_dir',
                               'fp16', 'paramwise_cfg', 'custom_imports', 'seed', 'gpu_ids', 'resources',
                               'sweep', 'other'])
SCHEMA_VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=3),
    st.lists(children, max_size=3).map(tuple),
    st.dictionaries(st.one_of(KEYS, st.sampled_from(['type', 'policy', 'max_epochs', 'max_iters', 'train',
                                                     'pipeline', 'space', 'values', 'lower', 'upper', 'dataset',
                                                     'head', 'grad_clip', 'custom_keys', 'deepspeed',
                                                     'strategy', 'warmup', 'priority', 'step'])),
                    children, max_size=4),
), max_leaves=25)


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(SCHEMA_KEYS, SCHEMA_VALUES, max_size=6), st.booleans())
def test_it_validates_any_plain_spec_without_raising(spec, for_training):
    errors = validate(spec, for_training=for_training)
    assert all(type(e) is SpecError and str(e) for e in errors)


@FUZZ
@given(st.text(min_size=1, max_size=80).filter(str.strip))
def test_it_reads_any_name_without_raising(name):
    info = parse_name(name)
    assert info['name'] is not None
