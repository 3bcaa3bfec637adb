"""parse_name: the naming convention of manual section 4.1."""

import pytest

from jobspecs import list_library, parse_name
from tests.support.spec_source import spec_error


def test_it_reads_the_example_of_the_manual():
    # Manual 4.1.5.
    info = parse_name('repvgg-D2se_deploy_4xb64-autoaug-lbs-mixup-coslr-200e_in1k.py')
    assert info == {
        'name': 'repvgg-D2se_deploy_4xb64-autoaug-lbs-mixup-coslr-200e_in1k',
        'algorithm': 'repvgg-D2se', 'main_algorithm': 'repvgg', 'architecture': 'D2se',
        'module': ['deploy'], 'pretrained_on': None,
        'training': '4xb64-autoaug-lbs-mixup-coslr-200e', 'training_type': None,
        'gpus': 4, 'batch_per_gpu': 64, 'total_batch': 256,
        'recipe': ['autoaug', 'lbs', 'mixup', 'coslr', '200e'], 'epochs': 200,
        'data': 'in1k', 'dataset': 'in1k', 'resolution': 224,
    }


def test_it_reads_gpus_and_batch_size():
    info = parse_name('configs/resnet/resnet50_8xb32_in1k.py')
    assert (info['algorithm'], info['gpus'], info['batch_per_gpu'], info['total_batch']) == ('resnet50', 8, 32, 256)
    assert (info['module'], info['recipe'], info['epochs']) == ([], [], None)


def test_it_reads_the_training_type_and_resolution():
    info = parse_name('vit-base-p16_ft-64xb64_in1k-384.py')
    assert (info['main_algorithm'], info['architecture']) == ('vit', 'base-p16')
    assert (info['training_type'], info['gpus'], info['batch_per_gpu']) == ('ft', 64, 64)
    assert (info['dataset'], info['resolution']) == ('in1k', 384)


def test_it_reads_pretraining_module_info():
    info = parse_name('vit-base-p16_in21k-pre-3rd-party_ft-64xb64_in1k-384px.py')
    assert info['module'] == ['in21k-pre-3rd-party'] and info['pretrained_on'] == 'in21k'
    assert info['resolution'] == 384


def test_it_reads_a_recipe_with_a_scheduler_and_epochs():
    info = parse_name('resnet50_8xb32-coslr-200e_in1k')
    assert (info['recipe'], info['epochs']) == (['coslr', '200e'], 200)


def test_it_leaves_out_what_a_name_does_not_say():
    info = parse_name('lenet5_mnist.py')
    assert (info['algorithm'], info['data'], info['dataset'], info['gpus'], info['resolution']) == \
        ('lenet5', 'mnist', 'mnist', None, None)
    assert parse_name('resnet50_finetune_cifar.py')['module'] == ['finetune']


@pytest.mark.parametrize('name', [n for n in list_library() if not n.startswith(('demo/', 'tutorial/'))])
def test_it_reads_every_mmclassification_name_in_the_library(name):
    info = parse_name(name)
    assert info['algorithm'] and info['data'] and (info['gpus'] or name.startswith('lenet/'))


@pytest.mark.parametrize('name', ['', '   ', None, 5])
def test_it_refuses_something_that_is_not_a_name(name):
    assert spec_error(parse_name, name).message.endswith('is not a config file name')
