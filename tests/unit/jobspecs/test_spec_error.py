"""SpecError: the one error type, and how it reads."""

import pickle

from jobspecs import SpecError


def test_it_reads_as_file_line_col_message():
    error = SpecError('name x is not defined', 'spec.py', 3, 7)
    assert str(error) == 'spec.py:3:7: name x is not defined'


def test_it_appends_the_hint_after_a_dash():
    error = SpecError('sets are not allowed', 'spec.py', 1, 5, hint='use a list')
    assert str(error) == 'spec.py:1:5: sets are not allowed — use a list'


def test_it_leaves_out_a_missing_line_or_column():
    assert str(SpecError('file is empty', 'spec.py')) == 'spec.py: file is empty'
    assert str(SpecError('bad', 'spec.py', 4)) == 'spec.py:4: bad'


def test_it_keeps_its_fields_through_pickle():
    error = pickle.loads(pickle.dumps(SpecError('bad', 'a.py', 1, 2, 'fix it')))
    assert (error.message, error.filename, error.lineno, error.col, error.hint) == ('bad', 'a.py', 1, 2, 'fix it')


def test_it_turns_into_a_response_body():
    body = SpecError('bad', 'a.py', 1, 2, 'fix it').as_dict()
    assert body == {'filename': 'a.py', 'lineno': 1, 'col': 2, 'message': 'bad', 'hint': 'fix it',
                    'text': 'a.py:1:2: bad — fix it'}
