# model settings (the model part of lenet/lenet5_mnist.py, which MMClassification
# 0.25 writes out in full rather than inheriting)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='LeNet5', num_classes=10),
    neck=None,
    head=dict(
        type='ClsHead',
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
