# A demo sweep over the demo spec: the learning rate (log-uniform) and label smoothing, searched at
# random, with ASHA stopping the weak trials early. Each trial is one Ray Train run of one worker;
# two trials run side by side on a two-core machine.
_base_ = ['./resnet18-tiny_2xb32-6e_digits.py']

model = dict(head=dict(loss=dict(_delete_=True, type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')))
resources = dict(num_workers=1, cpus_per_worker=1, strategy='ddp')
sweep = dict(
    space={
        'optimizer.lr': dict(type='loguniform', lower=1e-3, upper=0.3),
        'model.head.loss.label_smooth_val': dict(type='choice', values=[0.0, 0.1]),
    },
    metric='accuracy_top-1',
    mode='max',
    num_samples=8,
    search_alg='random',
    scheduler=dict(type='asha', grace_period=1, reduction_factor=2),
    max_concurrent_trials=2,
)
