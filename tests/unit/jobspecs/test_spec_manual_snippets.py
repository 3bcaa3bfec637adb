"""The config snippets of manual sections 6-10 load, and validate where they form a spec."""

import pytest

from jobspecs import load_text, validate
from tests.support.spec_source import dedent

PRIMITIVE = "_base_ = '../resnet/resnet50_8xb32_in1k.py'\n"

SNIPPETS = {
    '6.1.1 custom dataset': """
        dataset_type = 'CustomDataset'
        classes = ['cat', 'bird', 'dog']  # The category names of your dataset

        data = dict(
            train=dict(
                type=dataset_type,
                data_prefix='data/my_dataset/train',
                ann_file='data/my_dataset/meta/train.txt',
                classes=classes,
                pipeline=train_pipeline
            ),
            val=dict(
                type=dataset_type,
                data_prefix='data/my_dataset/val',
                ann_file='data/my_dataset/meta/val.txt',
                classes=classes,
                pipeline=test_pipeline
            ),
            test=dict(
                type=dataset_type,
                data_prefix='data/my_dataset/test',
                ann_file='data/my_dataset/meta/test.txt',
                classes=classes,
                pipeline=test_pipeline
            )
        )
    """,
    '6.2.1 repeat dataset': """
        data = dict(
            train=dict(
                _delete_=True,
                type='RepeatDataset',
                times=3,
                dataset=dict(type='ImageNet', data_prefix='data/imagenet/train', pipeline=train_pipeline)))
    """,
    '6.2.2 class balanced dataset': """
        data = dict(
            train=dict(
                _delete_=True,
                type='ClassBalancedDataset',
                oversample_thr=1e-3,
                dataset=dict(type='ImageNet', data_prefix='data/imagenet/train', pipeline=train_pipeline)))
    """,
    '7.2 custom pipeline': """
        img_norm_cfg = dict(
            mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
        train_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', size=224),
            dict(type='RandomFlip', flip_prob=0.5, direction='horizontal'),
            dict(type='MyTransform'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='ToTensor', keys=['gt_label']),
            dict(type='Collect', keys=['img', 'gt_label'])
        ]
        data = dict(train=dict(pipeline=train_pipeline))
    """,
    '8.1.3 model': """
        model = dict(
            _delete_=True,
            type='ImageClassifier',
            backbone=dict(
                type='ResNet',
                depth=50,
                num_stages=4,
                out_indices=(3, ),
                style='pytorch'),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=1000,
                in_channels=2048,
                loss=dict(type='L1Loss', loss_weight=1.0),
                topk=(1, 5),
            ))
    """,
    '9.1 adam': """
        optimizer = dict(_delete_=True, type='Adam', lr=0.001, betas=(0.9, 0.999), eps=1e-08,
                         weight_decay=0, amsgrad=False)
    """,
    '9.2.1 cosine': """
        lr_config = dict(
            _delete_=True,
            policy='CosineAnnealing',
            warmup='linear',
            warmup_iters=1000,
            warmup_ratio=1.0 / 10,
            min_lr_ratio=1e-5)
    """,
    '9.2.1 poly': "lr_config = dict(_delete_=True, policy='poly', power=0.9, min_lr=1e-4, by_epoch=False)",
    '9.2.2 warmup by iter': """
        lr_config = dict(
            _delete_=True,
            policy='CosineAnnealing',
            by_epoch=False,
            min_lr_ratio=1e-2,
            warmup='linear',
            warmup_ratio=1e-3,
            warmup_iters=20 * 1252,
            warmup_by_epoch=False)
    """,
    '9.2.2 exp warmup': """
        lr_config = dict(
            _delete_=True,
            policy='CosineAnnealing',
            min_lr=0,
            warmup='exp',
            warmup_iters=5,
            warmup_ratio=0.1,
            warmup_by_epoch=True)
    """,
    '9.3 cyclic momentum': """
        lr_config = dict(
            _delete_=True,
            policy='cyclic',
            target_ratio=(10, 1e-4),
            cyclic_times=1,
            step_ratio_up=0.4,
        )
        momentum_config = dict(
            policy='cyclic',
            target_ratio=(0.85 / 0.95, 1),
            cyclic_times=1,
            step_ratio_up=0.4,
        )
    """,
    '9.4 norm decay': """
        optimizer = dict(
            type='SGD',
            lr=0.8,
            weight_decay=1e-4,
            paramwise_cfg=dict(norm_decay_mult=0.))
    """,
    '9.4 custom keys': """
        paramwise_cfg = dict(
            custom_keys={
                'backbone.cls_token': dict(decay_mult=0.0),
                'backbone.pos_embed': dict(decay_mult=0.0)
            })

        optimizer = dict(
            type='SGD',
            lr=0.8,
            weight_decay=1e-4,
            paramwise_cfg=paramwise_cfg)
    """,
    '9.4 backbone lr': """
        optimizer = dict(
            type='SGD',
            lr=0.8,
            weight_decay=1e-4,
            # 'lr' for backbone and 'weight_decay' are 0.1 * lr and 0.9 * weight_decay
            paramwise_cfg=dict(
                custom_keys={'backbone': dict(lr_mult=0.1, decay_mult=0.9)}))
    """,
    '9.5.2 gradient accumulation': """
        data = dict(samples_per_gpu=64)
        optimizer_config = dict(type="GradientCumulativeOptimizerHook", cumulative_iters=4)
    """,
    '10.1 workflow': "workflow = [('train', 1), ('val', 1)]",
    '10.2.1 checkpoint and loggers': """
        checkpoint_config = dict(interval=1, max_keep_ckpts=3, save_optimizer=True)
        log_config = dict(
            interval=50,
            hooks=[
                dict(type='TextLoggerHook'),
                dict(type='TensorboardLoggerHook')
            ])
    """,
    '10.2.1 evaluation': """
        evaluation = dict(interval=1, save_best="auto", metric='accuracy', metric_options={'topk': (1, )})
    """,
    '10.2.1 evaluation start': """
        evaluation = dict(interval=1, start=200, metric='accuracy', metric_options={'topk': (1, )})
    """,
    '10.2.2 EMA hook': "custom_hooks = [dict(type='EMAHook', interval=100, priority='HIGH')]",
    '10.3.3 own hook': "custom_hooks = [dict(type='MyHook', a=1, b=2, priority='ABOVE_NORMAL')]",
    '10.4 load_from': "load_from = 'checkpoints/resnet50.pth'\nresume_from = None",
}


@pytest.mark.parametrize('section', list(SNIPPETS))
def test_it_loads_and_validates_the_manual_snippet(section):
    spec = load_text(PRIMITIVE + dedent(SNIPPETS[section]))
    assert [str(e) for e in validate(spec)] == []


def test_it_wraps_the_dataset_in_a_repeat_dataset():
    spec = load_text(PRIMITIVE + dedent(SNIPPETS['6.2.1 repeat dataset']))
    assert spec['data']['train']['type'] == 'RepeatDataset'
    assert spec['data']['train']['dataset']['pipeline'] == spec['train_pipeline']
    assert 'data_prefix' not in spec['data']['train']


def test_it_computes_the_warmup_iterations():
    spec = load_text(PRIMITIVE + dedent(SNIPPETS['9.2.2 warmup by iter']))
    assert spec['lr_config']['warmup_iters'] == 25040


def test_it_keeps_custom_keys_with_dots():
    spec = load_text(PRIMITIVE + dedent(SNIPPETS['9.4 custom keys']))
    assert spec['optimizer']['paramwise_cfg']['custom_keys'] == {
        'backbone.cls_token': {'decay_mult': 0.0}, 'backbone.pos_embed': {'decay_mult': 0.0}}
