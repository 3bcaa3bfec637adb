"""_base_ inheritance and merging (manual section 4.3, mmcv 1.x Config semantics)."""

from jobspecs import load, load_library, load_text
from tests.support.spec_source import dedent, spec_error


def test_it_inherits_and_modifies_the_resnet50_primitive():
    # Manual 4.3: resnet50_8xb32-300e_in1k.py, written as a submitted spec.
    spec = load_text(dedent("""
        _base_ = '../resnet/resnet50_8xb32_in1k.py'

        runner = dict(max_epochs=300)
        lr_config = dict(step=[150, 200, 250])
        data = dict(
            train=dict(data_prefix='mydata/imagenet/train'),
            val=dict(data_prefix='mydata/imagenet/train', ),
            test=dict(data_prefix='mydata/imagenet/train', )
        )
    """))
    base = load_library('resnet/resnet50_8xb32_in1k.py')
    assert spec['runner'] == {'type': 'EpochBasedRunner', 'max_epochs': 300}
    assert spec['lr_config'] == {'policy': 'step', 'step': [150, 200, 250]}
    for split in ('train', 'val', 'test'):
        assert spec['data'][split]['data_prefix'] == 'mydata/imagenet/train'
        assert spec['data'][split]['pipeline'] == base['data'][split]['pipeline']
        assert spec['data'][split]['type'] == 'ImageNet'
    assert spec['data']['val']['ann_file'] == 'data/imagenet/meta/val.txt'
    assert spec['model'] == base['model']
    assert '_base_' not in spec


def test_it_merges_child_dicts_key_by_key(lib):
    lib.write('base.py', "model = dict(type='A', backbone=dict(depth=50, style='pytorch'), neck=None)")
    child = lib.write('child.py', "_base_ = './base.py'\nmodel = dict(backbone=dict(depth=18))")
    assert load(child)['model'] == {'type': 'A', 'backbone': {'depth': 18, 'style': 'pytorch'}, 'neck': None}


def test_it_replaces_lists_and_tuples_instead_of_merging(lib):
    lib.write('base.py', "workflow = [('train', 1), ('val', 1)]\ntopk = (1, 5)")
    child = lib.write('child.py', "_base_ = './base.py'\nworkflow = [('train', 1)]\ntopk = (1, )")
    assert load(child) == {'workflow': [('train', 1)], 'topk': (1,)}


def test_it_lets_a_non_dict_replace_a_dict(lib):
    lib.write('base.py', "optimizer_config = dict(grad_clip=dict(max_norm=35))\nneck = dict(type='G')")
    child = lib.write('child.py', "_base_ = './base.py'\noptimizer_config = dict(grad_clip=None)\nneck = None")
    assert load(child) == {'optimizer_config': {'grad_clip': None}, 'neck': None}


def test_it_refuses_a_dict_merging_into_a_base_non_dict(lib):
    # Manual 9.5.1: with grad_clip=None in the base, _delete_=True is needed.
    lib.write('base.py', 'optimizer_config = dict(grad_clip=None)')
    child = lib.write('child.py', dedent("""
        _base_ = './base.py'
        optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))
    """))
    assert str(spec_error(load, child)) == (
        'child.py:2:35: optimizer_config.grad_clip is a dict here but None in the base (base.py:1), '
        'so it cannot be merged into it — add _delete_=True to this dict to replace the base value')


def test_it_keeps_the_order_of_base_keys_and_appends_new_ones(lib):
    lib.write('base.py', 'a = 1\nb = 2')
    child = lib.write('child.py', "_base_ = './base.py'\nc = 3\na = 4")
    assert list(load(child)) == ['a', 'b', 'c']


def test_it_merges_several_bases_in_order(lib):
    lib.write('m.py', "model = dict(type='M')")
    lib.write('d.py', "data = dict(samples_per_gpu=4)")
    child = lib.write('child.py', "_base_ = ['./m.py', './d.py']\ndata = dict(workers_per_gpu=1)")
    assert load(child) == {'model': {'type': 'M'}, 'data': {'samples_per_gpu': 4, 'workers_per_gpu': 1}}


def test_it_refuses_a_key_defined_by_two_bases(lib):
    lib.write('a.py', 'img_norm_cfg = dict(mean=[0])')
    lib.write('b.py', 'img_norm_cfg = dict(mean=[1])')
    child = lib.write('child.py', "_base_ = ['./a.py', './b.py']")
    assert str(spec_error(load, child)) == (
        "child.py:1:21: duplicate key 'img_norm_cfg' is not allowed among bases: both a.py and b.py "
        'define it — '
        'bases must not define the same top-level name (mmcv refuses it too); '
        'define it in one of them or in this file')


def test_it_inherits_through_several_levels(lib):
    lib.write('a.py', "model = dict(type='A', depth=1, width=1)")
    lib.write('b.py', "_base_ = './a.py'\nmodel = dict(depth=2)")
    child = lib.write('c.py', "_base_ = './b.py'\nmodel = dict(width=3)")
    assert load(child)['model'] == {'type': 'A', 'depth': 2, 'width': 3}


def test_it_accepts_an_empty_base_list():
    assert load_text('_base_ = []\nx = 1') == {'x': 1}


def test_it_refuses_a_base_that_is_not_a_string():
    assert str(spec_error(load_text, '_base_ = [1]', 'spec.py')) == (
        "spec.py:1:11: _base_ must be a string or a list of strings — "
        "write _base_ = ['../_base_/models/resnet50.py', ...]")


def test_it_refuses_base_assigned_twice():
    text = "_base_ = []\n_base_ = []"
    assert str(spec_error(load_text, text, 'spec.py')) == (
        'spec.py:2:1: _base_ is assigned twice — list every base in one _base_ = [...]')


def test_it_refuses_using_base_as_a_value():
    assert str(spec_error(load_text, "_base_ = []\nx = _base_", 'spec.py')) == (
        "spec.py:2:5: '_base_' cannot be used as a value — refer to a base variable as {{_base_.name}}")
