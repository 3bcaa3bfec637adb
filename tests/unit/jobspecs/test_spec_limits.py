"""Limits: a hostile spec is refused quickly with a SpecError, never by exhausting the server."""

import time

import pytest

from jobspecs import load, load_text
from tests.support.spec_source import spec_error


@pytest.mark.parametrize(('text', 'message'), [
    ('x = 10**10**10', 'spec.py:1:5: the result of 10 ** 10 ** 10 is too large — '
                       'numbers in a spec must be finite and fit in 64 bits'),
    ('x = 9 ** 9 ** 9 ** 9', 'spec.py:1:10: the result of 9 ** 9 ** 9 is too large — '
                             'numbers in a spec must be finite and fit in 64 bits'),
    ('x = 2 ** 64', 'spec.py:1:5: the result of 2 ** 64 is too large — numbers in a spec must be finite and fit in 64 bits'),
    ('x = 1e308 * 10', 'spec.py:1:5: the result of 1e+308 * 10 is too large — '
                       'numbers in a spec must be finite and fit in 64 bits'),
    ('x = 1e999', 'spec.py:1:5: number inf is not finite — write a finite number such as 1e30'),
    ('x = 2 ** 0.5 ** -9999', 'spec.py:1:10: the result of 0.5 ** (-9999) is too large — '
                              'numbers in a spec must be finite and fit in 64 bits'),
    ('x = 99999999999999999999', 'spec.py:1:5: integer is too large — '
                                 'integers in a spec must lie between -2**63 and 2**63'),
    ("x = 'a' * 10**9", 'spec.py:1:5: the repeated string would be longer than 65536 characters — '
                        'write the string you need'),
    ('x = [0] * 10**9', 'spec.py:1:5: the repeated list would have more than 100000 elements — '
                        'write the elements you need'),
    ('x = [0] * 2**63', 'spec.py:1:5: the repeated list would have more than 100000 elements — '
                        'write the elements you need'),
    ('x = 1 / 0', 'spec.py:1:5: division by zero'),
    ('x = 0 ** -1', 'spec.py:1:5: division by zero'),
    ('x = (-8) ** 0.5', 'spec.py:1:5: (-8) ** 0.5 is not a real number'),
])
def test_it_refuses_numbers_and_sizes_that_would_blow_up(text, message):
    start = time.perf_counter()
    assert str(spec_error(load_text, text, 'spec.py')) == message
    assert time.perf_counter() - start < 1


def test_it_limits_nesting_of_values():
    text = 'x = ' + '[' * 51 + ']' * 51
    assert str(spec_error(load_text, text, 'spec.py')) == (
        'spec.py:1:5: values are nested more than 50 levels deep — flatten the structure')


def test_it_limits_nesting_built_over_several_lines():
    text = 'a = 1\n' + ''.join('a = [a]\n' for _ in range(60))
    assert spec_error(load_text, text, 'spec.py').lineno == 52


def test_it_limits_nesting_of_expressions():
    text = 'x = ' + '-(' * 120 + '1' + ')' * 120
    assert spec_error(load_text, text, 'spec.py').message == 'expression is nested more than 100 levels deep'


@pytest.mark.parametrize('text', ['x = ' + '+'.join(['1'] * 50000), 'x = ' + '-' * 100000 + '1',
                                  'x = ' + 'not ' * 60000 + '1', 'x = ' + '(' * 300 + ')' * 300])
def test_it_refuses_input_too_deep_for_the_parser(text):
    error = spec_error(load_text, text, 'spec.py')
    assert error.filename == 'spec.py'


def test_it_limits_the_size_of_one_value():
    assert spec_error(load_text, 'x = [0] * 100000 + [0]').message == (
        'a value with more than 100000 elements is too large for a spec')


def test_it_limits_the_work_of_evaluating_a_spec():
    text = 'a = [0] * 99999\n' + 'b = a + []\n' * 25
    start = time.thread_time()  # this thread's CPU time: the work refused, however loaded the machine is
    assert spec_error(load_text, text, 'spec.py').message == (
        'the spec builds more than 2000000 values while it is evaluated')
    assert time.thread_time() - start < 2


def test_it_limits_the_length_of_strings():
    error = spec_error(load_text, 'x = "' + 'a' * 70000 + '"', 'spec.py')
    assert str(error) == ('spec.py:1:5: string of 70000 characters is too long (the limit is 65536) — '
                          'keep long text in a file the job reads')
    assert spec_error(load_text, 'a = "' + 'a' * 40000 + '"\nb = a + a').message == (
        'the joined string would be longer than 65536 characters')


def test_it_limits_the_size_of_submitted_text():
    error = spec_error(load_text, '#' * (256 * 1024 + 1), 'spec.py')
    assert str(error) == 'spec.py: the spec is larger than 256 KiB — a spec should describe one job'


def test_it_limits_the_size_of_a_file(lib):
    path = lib.write('big.py', '#' * (256 * 1024 + 1))
    assert str(spec_error(load, path)) == 'big.py: big.py is larger than 256 KiB — a spec should describe one job'


def test_it_limits_the_number_of_files_read(lib):
    # A fan-out of 6 over three levels reads 258 distinct files.
    names = []
    for a in range(6):
        middle = []
        for b in range(6):
            leaves = []
            for c in range(6):
                lib.write(f'l{a}{b}{c}.py', f'v{a}{b}{c} = 1')
                leaves.append(f'./l{a}{b}{c}.py')
            lib.write(f'm{a}{b}.py', f'_base_ = {leaves!r}')
            middle.append(f'./m{a}{b}.py')
        lib.write(f't{a}.py', f'_base_ = {middle!r}')
        names.append(f'./t{a}.py')
    top = lib.write('top.py', f'_base_ = {names!r}')
    assert spec_error(load, top).message == 'the spec reads more than 200 files'


def test_it_refuses_text_that_is_not_utf8(lib):
    path = lib.root / 'latin1.py'
    path.write_bytes(b"x = 1\ny = 'caf\xe9'\n")
    assert str(spec_error(load, path)) == 'latin1.py:2:9: the file is not valid UTF-8 text — save the spec as UTF-8'
    assert spec_error(load_text, b"x = '\xff'").message == 'the file is not valid UTF-8 text'


def test_it_refuses_nul_characters_and_lone_surrogates():
    assert str(spec_error(load_text, 'x = 1\ny = "\x00"', 'spec.py')) == (
        'spec.py:2: the spec contains a NUL character — a spec is a Python-syntax text file')
    assert spec_error(load_text, 'x = "\udc80"', 'spec.py').message.startswith('the spec cannot be parsed')


@pytest.mark.parametrize('value', [None, 12, ['x = 1'], object()])
def test_it_refuses_text_that_is_not_text(value):
    assert spec_error(load_text, value).message.startswith('spec text must be a string')
