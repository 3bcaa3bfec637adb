# The demo spec: a narrow ResNet-18 (CIFAR stem, 16 base channels) on scikit-learn's handwritten
# digits, written out by `manage.py up` as a CustomDataset folder tree (data/digits/{train,val}/<class>/).
# Two Ray Train workers x 32 images, 6 epochs: about a minute on two CPU cores, top-1 above 90%.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        stem_channels=16,
        base_channels=16,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))

# dataset settings
dataset_type = 'CustomDataset'
img_norm_cfg = dict(mean=[78.0, 78.0, 78.0], std=[81.0, 81.0, 81.0], to_rgb=False)  # the digits PNGs' own
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', size=(16, 16)),
    dict(type='RandomCrop', size=16, padding=2),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label'])
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', size=(16, 16)),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='Collect', keys=['img'])
]
data = dict(
    samples_per_gpu=32,
    workers_per_gpu=0,
    train=dict(type=dataset_type, data_prefix='data/digits/train', pipeline=train_pipeline),
    val=dict(type=dataset_type, data_prefix='data/digits/val', pipeline=test_pipeline),
    test=dict(type=dataset_type, data_prefix='data/digits/val', pipeline=test_pipeline))
evaluation = dict(interval=1, metric='accuracy')

# schedule
optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0005)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='CosineAnnealing', min_lr=0, warmup='linear', warmup_iters=20, warmup_ratio=0.1)
runner = dict(type='EpochBasedRunner', max_epochs=6)

# runtime
checkpoint_config = dict(interval=2, max_keep_ckpts=2)
log_config = dict(interval=5, hooks=[dict(type='TextLoggerHook')])
dist_params = dict(backend='gloo')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]

# Trainyard: how the run spreads over the Ray cluster
resources = dict(num_workers=2, cpus_per_worker=1, strategy='ddp')
