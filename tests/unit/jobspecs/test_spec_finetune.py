"""Tutorial 2, fine-tuning a ResNet-50 on CIFAR-10 (manual section 5)."""

from jobspecs import load_library, load_text, validate
from tests.support.spec_source import dedent

TUTORIAL = 'tutorial/resnet50_finetune_cifar.py'
CHECKPOINT = ('https://download.openmmlab.com/mmclassification/v0/resnet/'
              'resnet50_8xb32_in1k_20210831-ea4938fc.pth')


def test_it_loads_the_pretrained_backbone_and_a_new_head():
    spec = load_library(TUTORIAL)
    assert spec['model']['backbone'] == {
        'type': 'ResNet', 'depth': 50, 'num_stages': 4, 'out_indices': (3,), 'style': 'pytorch',
        'frozen_stages': 2,
        'init_cfg': {'type': 'Pretrained', 'checkpoint': CHECKPOINT, 'prefix': 'backbone'},
    }
    assert spec['model']['head'] == {
        'type': 'LinearClsHead', 'num_classes': 10, 'in_channels': 2048,
        'loss': {'type': 'CrossEntropyLoss', 'loss_weight': 1.0}, 'topk': (1, 5),
    }


def test_it_resizes_cifar_images_to_224():
    spec = load_library(TUTORIAL)
    train = spec['data']['train']
    assert train['type'] == 'CIFAR10' and train['data_prefix'] == 'data/cifar10'
    assert [step['type'] for step in train['pipeline']] == [
        'RandomCrop', 'RandomFlip', 'Resize', 'Normalize', 'ImageToTensor', 'ToTensor', 'Collect']
    assert train['pipeline'][2] == {'type': 'Resize', 'size': 224}
    assert spec['data']['val']['pipeline'][0] == {'type': 'Resize', 'size': 224}
    assert spec['data']['val']['test_mode'] is True
    assert spec['data']['samples_per_gpu'] == 16


def test_it_uses_the_fine_tuning_schedule():
    spec = load_library(TUTORIAL)
    assert spec['optimizer'] == {'type': 'SGD', 'lr': 0.01, 'momentum': 0.9, 'weight_decay': 0.0001}
    assert spec['lr_config'] == {'policy': 'step', 'step': [15]}
    assert spec['runner'] == {'type': 'EpochBasedRunner', 'max_epochs': 200}
    assert spec['log_config'] == {'interval': 100, 'hooks': [{'type': 'TextLoggerHook'}]}
    assert validate(spec) == []


def test_it_reaches_batch_128_on_one_gpu():
    # Manual 5.5: on one GPU samples_per_gpu becomes 128.
    spec = load_text(dedent("""
        _base_ = '../tutorial/resnet50_finetune_cifar.py'
        data = dict(
            samples_per_gpu=128,
            train=dict(pipeline=train_pipeline),
            val=dict(pipeline=test_pipeline),
            test=dict(pipeline=test_pipeline),
        )
    """))
    assert spec['data']['samples_per_gpu'] == 128
    assert spec['data']['train']['pipeline'] == load_library(TUTORIAL)['data']['train']['pipeline']
    assert load_library(TUTORIAL, ['data.samples_per_gpu=128'])['data'] == spec['data']


def test_it_freezes_stages_without_the_checkpoint():
    # Manual 5.2, the frozen_stages variant, on the ImageNet primitive.
    spec = load_text(dedent("""
        _base_ = ['../_base_/models/resnet50.py', '../_base_/datasets/cifar10_bs16.py',
                  '../_base_/default_runtime.py']
        model = dict(backbone=dict(frozen_stages=2), head=dict(num_classes=10))
    """))
    assert spec['model']['backbone']['frozen_stages'] == 2
    assert 'init_cfg' not in spec['model']['backbone']
