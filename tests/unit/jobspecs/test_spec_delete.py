"""_delete_=True: ignore the base's fields (manual sections 4.3.2 and 9.5.1)."""

from jobspecs import load, load_text
from tests.support.spec_source import dedent, spec_error


def test_it_replaces_the_base_dict_when_delete_is_set():
    # Manual 4.3.2: switch the ResNet-50 step schedule to cosine.
    spec = load_text(dedent("""
        _base_ = '../resnet/resnet50_8xb32_in1k.py'
        lr_config = dict(
            _delete_=True,
            policy='CosineAnnealing',
            min_lr=0,
            warmup='linear',
            by_epoch=True,
            warmup_iters=5,
            warmup_ratio=0.1
        )
    """))
    assert spec['lr_config'] == {'policy': 'CosineAnnealing', 'min_lr': 0, 'warmup': 'linear',
                                 'by_epoch': True, 'warmup_iters': 5, 'warmup_ratio': 0.1}


def test_it_keeps_the_base_step_without_delete():
    # What the manual warns about: merging keeps 'step' from the base.
    spec = load_text("_base_ = '../resnet/resnet50_8xb32_in1k.py'\n"
                     "lr_config = dict(policy='CosineAnnealing', min_lr=0)")
    assert spec['lr_config'] == {'policy': 'CosineAnnealing', 'step': [30, 60, 90], 'min_lr': 0}


def test_it_replaces_grad_clip_none_with_delete():
    # Manual 9.5.1.
    spec = load_text(dedent("""
        _base_ = ['../_base_/schedules/imagenet_bs256_coslr.py']
        optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2), _delete_=True, type='OptimizerHook')
    """))
    assert spec['optimizer_config'] == {'grad_clip': {'max_norm': 35, 'norm_type': 2}, 'type': 'OptimizerHook'}


def test_it_deletes_at_any_depth(lib):
    lib.write('base.py', "model = dict(type='A', head=dict(type='H', loss=dict(type='CE', w=1), topk=(1, 5)))")
    child = lib.write('child.py', "_base_ = './base.py'\n"
                                  "model = dict(head=dict(loss=dict(_delete_=True, type='LabelSmooth')))")
    assert load(child)['model'] == {'type': 'A', 'head': {'type': 'H', 'loss': {'type': 'LabelSmooth'},
                                                           'topk': (1, 5)}}


def test_it_removes_delete_keys_from_the_result():
    spec = load_text("x = dict(_delete_=True, a=dict(_delete_=False, b=1))\ny = [dict(_delete_=True)]")
    assert spec == {'x': {'a': {'b': 1}}, 'y': [{}]}


def test_it_merges_normally_when_delete_is_false(lib):
    lib.write('base.py', 'x = dict(a=1)')
    child = lib.write('child.py', "_base_ = './base.py'\nx = dict(_delete_=False, b=2)")
    assert load(child) == {'x': {'a': 1, 'b': 2}}


def test_it_refuses_a_delete_that_is_not_a_bool(lib):
    lib.write('base.py', 'x = dict(a=1)')
    child = lib.write('child.py', "_base_ = './base.py'\nx = dict(_delete_='yes', b=2)")
    assert str(spec_error(load, child)) == (
        'child.py:2:19: _delete_ must be True or False, not str — '
        'write _delete_=True to replace the base dict instead of merging into it')
