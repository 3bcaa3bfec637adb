"""Where _base_ may point: relative paths inside the library, no cycles, a bounded depth."""

import os

import pytest

from jobspecs import library_dir, load, load_text
from tests.support.spec_source import spec_error


def test_it_places_submitted_text_one_folder_below_the_library():
    spec = load_text("_base_ = ['../_base_/models/resnet18_cifar.py', '../_base_/default_runtime.py']")
    assert spec['model']['backbone']['type'] == 'ResNet_CIFAR'
    spec = load_text("_base_ = '../resnet/resnet18_8xb16_cifar10.py'")
    assert spec['data']['train']['type'] == 'CIFAR10'


def test_it_refuses_a_path_that_climbs_out_of_the_library():
    text = "_base_ = '../../../../etc/passwd.py'"
    assert str(spec_error(load_text, text, 'spec.py')) == (
        "spec.py:1:10: _base_ path '../../../../etc/passwd.py' leads outside the spec library — "
        "base files must live in the library, e.g. '../_base_/models/resnet50.py'")


def test_it_refuses_an_absolute_path():
    text = f"_base_ = ['{library_dir() / '_base_/default_runtime.py'}']"
    assert spec_error(load_text, text, 'spec.py').message.endswith('must be relative to this file')


def test_it_refuses_a_file_that_is_not_a_spec():
    assert str(spec_error(load_text, "_base_ = '../../../../etc/passwd'", 'spec.py')) == (
        "spec.py:1:10: _base_ path '../../../../etc/passwd' is not a .py spec file — "
        "base files are Python-syntax specs ending in '.py'")


def test_it_refuses_a_symlink_that_leads_outside(lib, tmp_path):
    outside = tmp_path / 'outside.py'
    outside.write_text('secret = 1')
    os.symlink(outside, lib.root / 'link.py')
    child = lib.write('child.py', "_base_ = './link.py'")
    assert spec_error(load, child).message == "_base_ path './link.py' leads outside the spec library"


def test_it_suggests_the_closest_file_when_a_base_is_missing():
    assert str(spec_error(load_text, "_base_ = '../_base_/models/resnet_50.py'", 'spec.py')) == (
        "spec.py:1:10: base file '../_base_/models/resnet_50.py' not found — "
        "did you mean '../_base_/models/resnet50.py'?")


def test_it_explains_where_submitted_text_lives_when_dot_slash_misses():
    error = spec_error(load_text, "_base_ = './resnet50_8xb32_in1k.py'", 'spec.py')
    assert error.hint == ("submitted specs live in the library's _user_/ folder: reach library files "
                          "with '../', e.g. '../_base_/models/resnet50.py'")


def test_it_reports_a_cycle_with_its_chain(lib):
    lib.write('a.py', "_base_ = './b.py'")
    lib.write('b.py', "_base_ = './c.py'")
    lib.write('c.py', "_base_ = './a.py'")
    assert str(spec_error(load, lib.root / 'a.py')) == (
        'c.py:1:10: _base_ cycle: a.py -> b.py -> c.py -> a.py — remove one of these _base_ entries')


def test_it_reports_a_file_that_includes_itself(lib):
    child = lib.write('self.py', "_base_ = ['./self.py']")
    assert spec_error(load, child).message == '_base_ cycle: self.py -> self.py'


def test_it_limits_the_depth_of_inheritance(lib):
    for level in range(10):
        lib.write(f'l{level}.py', f"_base_ = './l{level + 1}.py'\nx{level} = {level}")
    lib.write('l10.py', 'x10 = 10')
    error = spec_error(load, lib.root / 'l0.py')
    assert error.message.startswith('_base_ chain is deeper than 8 files: l0.py -> l1.py -> ')
    assert error.filename == 'l8.py'


def test_it_accepts_eight_levels(lib):
    for level in range(8):
        lib.write(f'l{level}.py', f"_base_ = './l{level + 1}.py'\nx{level} = {level}")
    lib.write('l8.py', 'x8 = 8')
    assert load(lib.root / 'l0.py')['x8'] == 8


def test_it_confines_a_spec_outside_the_library_to_its_own_folder(tmp_path):
    (tmp_path / 'project').mkdir()
    (tmp_path / 'shared.py').write_text('x = 1')
    spec_file = tmp_path / 'project' / 'spec.py'
    spec_file.write_text("_base_ = '../shared.py'")
    assert spec_error(load, spec_file).message == "_base_ path '../shared.py' leads outside the spec library"
    assert load(spec_file, root=tmp_path) == {'x': 1}


def test_it_reports_a_missing_spec_file(tmp_path):
    error = spec_error(load, tmp_path / 'nope.py')
    assert error.message == "spec file 'nope.py' not found"


@pytest.mark.parametrize('path', [123, None, ['a.py']])
def test_it_refuses_a_path_that_is_not_a_path(path):
    assert 'a spec path must be a string' in spec_error(load, path).message


def test_it_reads_a_base_again_when_it_changes(lib):
    lib.write('base.py', 'x = 1')
    child = lib.write('child.py', "_base_ = './base.py'")
    assert load(child) == {'x': 1}
    lib.write('base.py', 'x = 2')
    assert load(child) == {'x': 2}
