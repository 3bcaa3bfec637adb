"""{{_base_.name}} references (manual section 4.3.3)."""

from jobspecs import load, load_library, load_text
from tests.support.spec_source import dedent, spec_error


def test_it_fills_in_the_auto_augment_policies_of_the_manual(lib):
    lib.write('pipelines/auto_aug.py', dedent("""
        auto_increasing_policies = [
            dict(type='AutoContrast'),
            dict(type='Rotate', magnitude_key='angle', magnitude_range=(0, 30)),
        ]
    """))
    spec_file = lib.write('imagenet_bs64_autoaug.py', dedent("""
        _base_ = ['./pipelines/auto_aug.py']

        # dataset settings
        dataset_type = 'ImageNet'
        img_norm_cfg = dict(
            mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
        train_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', size=224),
            dict(type='RandomFlip', flip_prob=0.5, direction='horizontal'),
            dict(type='AutoAugment', policies={{_base_.auto_increasing_policies}}),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='ToTensor', keys=['gt_label']),
            dict(type='Collect', keys=['img', 'gt_label'])
        ]
        data = dict(
            samples_per_gpu=64,
            workers_per_gpu=2,
            train=dict(type=dataset_type, pipeline=train_pipeline))
        evaluation = dict(interval=1, metric='accuracy')
    """))
    spec = load(spec_file)
    assert spec['train_pipeline'][3] == {'type': 'AutoAugment', 'policies': [
        {'type': 'AutoContrast'},
        {'type': 'Rotate', 'magnitude_key': 'angle', 'magnitude_range': (0, 30)},
    ]}
    assert spec['data']['train']['pipeline'][3]['policies'] == spec['auto_increasing_policies']


def test_it_resolves_the_library_auto_augment_pipeline():
    spec = load_library('vision_transformer/vit-base-p16_pt-64xb64_in1k-224.py')
    step = spec['data']['train']['pipeline'][3]
    assert step['type'] == 'AutoAugment'
    assert step['policies'] == spec['policy_imagenet'] and len(step['policies']) == 25


def test_it_follows_dotted_paths_and_spacing():
    spec = load_text(dedent("""
        _base_ = '../_base_/models/resnet50.py'
        depth = {{ _base_.model.backbone.depth }}
        heads = [{{_base_.model.head}}, dict(inner={{_base_.model.head.num_classes}})]
        doubled = {{_base_.model.backbone.depth}} * 2
    """))
    assert spec['depth'] == 50
    assert spec['heads'][0]['in_channels'] == 2048
    assert spec['heads'][1] == {'inner': 1000}
    assert spec['doubled'] == 100


def test_it_keeps_a_reference_inside_a_string_literal_as_text():
    spec = load_text("_base_ = '../_base_/default_runtime.py'\nnote = '{{_base_.log_level}}'")
    assert spec['note'] == '{{_base_.log_level}}'


def test_it_spans_lines_and_keeps_later_positions(lib):
    lib.write('base.py', 'x = 1')
    child = lib.write('child.py', "_base_ = './base.py'\ny = [{{\n  _base_.x\n}}, 2]\nz = q")
    assert str(spec_error(load, child)) == "child.py:5:5: name 'q' is not defined"


def test_it_reports_a_missing_base_variable():
    text = "_base_ = '../_base_/models/resnet50.py'\nx = {{_base_.modle}}"
    assert str(spec_error(load_text, text, 'spec.py')) == (
        "spec.py:2:5: the bases do not define '_base_.modle' — did you mean 'model'?")


def test_it_reports_a_missing_nested_key():
    text = "_base_ = '../_base_/models/resnet50.py'\nx = {{_base_.model.backbone.dept}}"
    assert str(spec_error(load_text, text, 'spec.py')) == (
        "spec.py:2:5: the bases do not define '_base_.model.backbone.dept' — did you mean 'depth'?")


def test_it_refuses_a_reference_without_bases():
    assert str(spec_error(load_text, 'x = {{_base_.model}}', 'spec.py')) == (
        "spec.py:1:5: {{_base_.model}} is used but this spec has no _base_ — "
        "add the file that defines it: _base_ = ['...']")
