"""Intermediate variables (manual section 4.3.1) and the bases' names seen by the child."""

from jobspecs import load_text
from tests.support.spec_source import dedent

# Manual 4.3.1, on top of the ViT primitive the manual's 384px pipeline belongs to.
SECTION_4_3_1 = dedent("""
    _base_ = '../resnet/resnet50_8xb32_in1k.py'
    img_norm_cfg = dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', size=384, backend='pillow'),
        dict(type='RandomFlip', flip_prob=0.5, direction='horizontal'),
        dict(type='Normalize', **img_norm_cfg),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='ToTensor', keys=['gt_label']),
        dict(type='Collect', keys=['img', 'gt_label'])
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', size=384, backend='pillow'),
        dict(type='Normalize', **img_norm_cfg),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img'])
    ]
    data = dict(
        train=dict(pipeline=train_pipeline),
        val=dict(pipeline=test_pipeline),
        test=dict(pipeline=test_pipeline))
""")


def test_it_passes_changed_pipelines_through_intermediate_variables():
    spec = load_text(SECTION_4_3_1)
    assert spec['data']['train']['pipeline'][1] == {'type': 'RandomResizedCrop', 'size': 384, 'backend': 'pillow'}
    assert spec['data']['val']['pipeline'][1] == {'type': 'Resize', 'size': 384, 'backend': 'pillow'}
    assert spec['data']['test']['pipeline'] == spec['test_pipeline']
    assert spec['data']['train']['data_prefix'] == 'data/imagenet/train'


def test_it_keeps_intermediate_variables_in_the_result():
    spec = load_text(SECTION_4_3_1)
    for name in ('img_norm_cfg', 'train_pipeline', 'test_pipeline', 'dataset_type'):
        assert name in spec
    assert spec['dataset_type'] == 'ImageNet'


def test_it_does_not_rewrite_base_values_built_from_a_redefined_variable():
    # Like mmcv: the base's data was built from the base's pipeline; changing
    # train_pipeline alone leaves data.train.pipeline as it was (hence manual 4.3.1).
    spec = load_text("_base_ = '../resnet/resnet50_8xb32_in1k.py'\ntrain_pipeline = []")
    assert spec['train_pipeline'] == []
    assert len(spec['data']['train']['pipeline']) == 7


def test_it_lets_the_child_use_the_bases_names():
    spec = load_text(dedent("""
        _base_ = '../_base_/datasets/cifar10_bs16.py'
        extra = dict(type='Normalize', **img_norm_cfg)
        first_step = train_pipeline[0]
    """))
    assert spec['extra']['mean'] == [125.307, 122.961, 113.8575]
    assert spec['first_step'] == {'type': 'RandomCrop', 'size': 32, 'padding': 4}


def test_it_sees_its_own_value_once_it_redefines_a_base_name():
    spec = load_text(dedent("""
        _base_ = '../_base_/datasets/cifar10_bs16.py'
        dataset_type = 'CIFAR100'
        train = dict(type=dataset_type)
    """))
    assert spec['train'] == {'type': 'CIFAR100'}
    assert spec['data']['train']['type'] == 'CIFAR10'
