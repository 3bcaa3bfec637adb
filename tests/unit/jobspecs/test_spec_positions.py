"""Positions: every key path of the resolved spec points at where its value was written."""

from jobspecs import Positions, load_library, load_text, load_with_positions, validate
from tests.support.spec_source import dedent

TYPO = dedent("""
    _base_ = ['../_base_/models/resnet18_cifar.py', '../_base_/datasets/cifar10_bs16.py',
              '../_base_/schedules/cifar10_bs128.py', '../_base_/default_runtime.py']
    model = dict(
        backbone=dict(type='ResNt', depth=18),
    )
""")


def test_it_points_an_unknown_type_at_its_line_and_column():
    spec, positions = load_text(TYPO, 'spec.py', positions=True)
    assert spec['model']['backbone']['type'] == 'ResNt'
    assert positions[('model', 'backbone', 'type')] == ('spec.py', 4, 24)
    assert isinstance(positions, Positions)


def test_it_points_inherited_values_at_the_base_file():
    _, positions = load_text(TYPO, 'spec.py', positions=True)
    assert positions[('model', 'head', 'num_classes')] == ('_base_/models/resnet18_cifar.py', 13, 21)
    assert positions[('optimizer', 'lr')] == ('_base_/schedules/cifar10_bs128.py', 2, 33)


def test_it_points_list_elements_by_index():
    _, positions = load_text(TYPO, 'spec.py', positions=True)
    assert positions[('data', 'train', 'pipeline', 0, 'type')] == ('_base_/datasets/cifar10_bs16.py', 8, 15)


def test_it_points_values_given_as_cfg_options_at_the_option():
    _, positions = load_text(TYPO, 'spec.py', ['runner.max_epochs=3', 'model.head.num_classes=5'],
                             positions=True)
    assert positions[('runner', 'max_epochs')] == ('<cfg_options>', 1, 19)
    assert positions[('model', 'head', 'num_classes')] == ('<cfg_options>', 2, 24)


def test_it_finds_the_nearest_known_ancestor():
    _, positions = load_text(TYPO, 'spec.py', positions=True)
    assert positions.nearest(('model', 'backbone', 'type', 'missing')) == ('spec.py', 4, 24)
    assert positions.nearest(('nothing',)) is None


def test_it_loads_a_file_with_positions(lib):
    path = lib.write('spec.py', "x = 1\ny = dict(a=[1, 'b'])")
    spec, positions = load_with_positions(path)
    assert spec == {'x': 1, 'y': {'a': [1, 'b']}}
    assert positions[('y', 'a', 1)] == ('spec.py', 2, 16)


def test_it_names_library_files_relative_to_the_library():
    _, positions = load_library('lenet/lenet5_mnist.py', positions=True)
    assert positions[('runner', 'max_epochs')] == ('lenet/lenet5_mnist.py', 53, 51)


def test_it_lets_validation_errors_point_at_the_source():
    spec, positions = load_text(TYPO + 'runner = dict(max_epochs=0)\n', 'spec.py', positions=True)
    assert [str(e) for e in validate(spec, positions)] == [
        'spec.py:6:26: runner.max_epochs must be a positive integer, not 0']
