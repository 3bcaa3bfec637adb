"""spec_hash: a stable fingerprint of a resolved spec."""

from jobspecs import load_library, load_text, spec_hash
from tests.support.spec_source import spec_error


def test_it_gives_the_same_hash_for_the_same_spec():
    assert spec_hash(load_library('resnet/resnet50_8xb32_in1k.py')) == \
        spec_hash(load_library('resnet/resnet50_8xb32_in1k.py'))


def test_it_is_a_sha256_hex_digest_that_does_not_drift():
    assert spec_hash({'a': 1}) == '015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862'


def test_it_ignores_key_order():
    assert spec_hash({'a': 1, 'b': {'c': 2, 'd': 3}}) == spec_hash({'b': {'d': 3, 'c': 2}, 'a': 1})


def test_it_treats_tuples_like_lists():
    assert spec_hash({'topk': (1, 5)}) == spec_hash({'topk': [1, 5]})


def test_it_tells_different_values_apart():
    hashes = {spec_hash({'a': v}) for v in (1, 1.0, True, '1', None, [1], {'1': 1})}
    assert len(hashes) == 7


def test_it_changes_when_an_option_changes_the_spec():
    base = load_library('resnet/resnet50_8xb32_in1k.py')
    assert spec_hash(base) != spec_hash(load_library('resnet/resnet50_8xb32_in1k.py', ['runner.max_epochs=1']))


def test_it_matches_for_the_same_spec_written_two_ways():
    a = load_text("x = dict(a=1, b=[1, 2])")
    b = load_text("y = [1]\nx = {'b': y + [2], 'a': 1}")
    del b['y']
    assert spec_hash(a) == spec_hash(b)


def test_it_refuses_data_a_spec_cannot_hold():
    assert spec_error(spec_hash, {'a': {1, 2}}).message == 'a value of type set cannot be part of a spec'
    assert spec_error(spec_hash, {'a': float('nan')}).message == "number nan is not finite"
