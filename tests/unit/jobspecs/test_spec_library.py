"""The spec library: MMClassification 0.25's configs, each loading and validating."""

import pytest

from jobspecs import library_dir, list_library, load, load_library, validate
from tests.support.spec_source import spec_error

SEED_MODEL = {
    'type': 'ImageClassifier',
    'backbone': {'type': 'ResNet', 'depth': 50, 'num_stages': 4, 'out_indices': (3,), 'style': 'pytorch'},
    'neck': {'type': 'GlobalAveragePooling'},
    'head': {'type': 'LinearClsHead', 'num_classes': 1000, 'in_channels': 2048,
             'loss': {'type': 'CrossEntropyLoss', 'loss_weight': 1.0}, 'topk': (1, 5)},
}


@pytest.mark.parametrize('name', list_library())
def test_it_loads_and_validates_every_library_spec(name):
    spec, positions = load_library(name, positions=True)
    assert [str(e) for e in validate(spec, positions)] == []


def test_it_lists_specs_but_not_building_blocks():
    names = list_library()
    assert 'resnet/resnet50_8xb32_in1k.py' in names
    assert 'tutorial/resnet50_finetune_cifar.py' in names
    assert not [n for n in names if n.startswith(('_base_/', '_user_/'))]
    assert names == sorted(names)


@pytest.mark.parametrize('name', [
    'resnet/resnet18_8xb32_in1k.py', 'resnet/resnet34_8xb32_in1k.py', 'resnet/resnet50_8xb32_in1k.py',
    'resnet/resnet101_8xb32_in1k.py', 'resnet/resnet152_8xb32_in1k.py', 'resnet/resnet18_8xb16_cifar10.py',
    'resnet/resnet34_8xb16_cifar10.py', 'resnet/resnet50_8xb16_cifar10.py', 'resnet/resnet50_8xb16_cifar100.py',
    'lenet/lenet5_mnist.py', 'mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    'vision_transformer/vit-base-p16_ft-64xb64_in1k-384.py', 'vision_transformer/vit-base-p32_ft-64xb64_in1k-384.py',
    'vision_transformer/vit-large-p16_ft-64xb64_in1k-384.py', 'tutorial/resnet50_finetune_cifar.py',
])
def test_it_offers_the_configs_of_mmclassification(name):
    assert name in list_library()


def test_it_matches_the_resnet50_primitive_of_the_manual():
    # Manual section 4.2, comments aside.
    spec = load_library('resnet/resnet50_8xb32_in1k.py')
    assert spec['model'] == SEED_MODEL
    assert spec['optimizer'] == {'type': 'SGD', 'lr': 0.1, 'momentum': 0.9, 'weight_decay': 0.0001}
    assert spec['optimizer_config'] == {'grad_clip': None}
    assert spec['lr_config'] == {'policy': 'step', 'step': [30, 60, 90]}
    assert spec['runner'] == {'type': 'EpochBasedRunner', 'max_epochs': 100}
    assert spec['checkpoint_config'] == {'interval': 1}
    assert spec['log_config'] == {'interval': 100, 'hooks': [{'type': 'TextLoggerHook'}]}
    assert spec['dist_params'] == {'backend': 'nccl'}
    assert (spec['log_level'], spec['resume_from'], spec['workflow']) == ('INFO', None, [('train', 1)])
    assert spec['evaluation'] == {'interval': 1, 'metric': 'accuracy'}
    assert spec['data']['samples_per_gpu'] == 32 and spec['data']['workers_per_gpu'] == 2
    assert spec['data']['val'] == {'type': 'ImageNet', 'data_prefix': 'data/imagenet/val',
                                   'ann_file': 'data/imagenet/meta/val.txt', 'pipeline': spec['test_pipeline']}
    assert [s['type'] for s in spec['train_pipeline']] == [
        'LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip', 'Normalize', 'ImageToTensor', 'ToTensor', 'Collect']


def test_it_sets_cifar100_classes_and_schedule():
    spec = load_library('resnet/resnet50_8xb16_cifar100.py')
    assert spec['model']['head']['num_classes'] == 100
    assert spec['optimizer']['weight_decay'] == 0.0005
    assert spec['lr_config'] == {'policy': 'step', 'step': [60, 120, 160], 'gamma': 0.2}
    assert spec['data']['train']['type'] == 'CIFAR100'


def test_it_fine_tunes_vit_at_384():
    spec = load_library('vision_transformer/vit-base-p16_ft-64xb64_in1k-384.py')
    assert spec['model']['backbone']['img_size'] == 384 and spec['model']['backbone']['arch'] == 'b'
    assert spec['data']['train']['pipeline'][1] == {'type': 'RandomResizedCrop', 'size': 384, 'backend': 'pillow'}
    assert spec['optimizer']['paramwise_cfg'] == spec['paramwise_cfg']
    assert spec['data']['samples_per_gpu'] == 64


def test_it_writes_lenet_out_in_full():
    spec = load_library('lenet/lenet5_mnist.py')
    assert spec['model']['backbone'] == {'type': 'LeNet5', 'num_classes': 10}
    assert spec['work_dir'] == './work_dirs/mnist/'


def test_it_loads_library_files_by_path():
    assert load(library_dir() / 'resnet' / 'resnet18_8xb32_in1k.py') == load_library('resnet/resnet18_8xb32_in1k')


@pytest.mark.parametrize('name', ['../../etc/passwd', '_base_/models/resnet50.py', '/etc/passwd',
                                  'resnet/../../../x.py', '', '_user_/spec.py'])
def test_it_refuses_names_that_are_not_library_specs(name):
    assert spec_error(load_library, name).hint in ('pick a name from list_library()', None)


def test_it_suggests_a_close_library_name():
    assert str(spec_error(load_library, 'resnet/resnet50_8xb32_in1.py')) == (
        "resnet/resnet50_8xb32_in1.py: library spec 'resnet/resnet50_8xb32_in1.py' not found — "
        "did you mean 'resnet/resnet50_8xb32_in1k.py'?")
