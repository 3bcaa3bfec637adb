"""dumps: pretty, deterministic text that loads back to the same spec."""

import json

import pytest

from jobspecs import dumps, list_library, load_library, load_text
from tests.support.spec_source import spec_error


@pytest.mark.parametrize('name', list_library())
def test_it_writes_python_that_loads_back_to_the_same_spec(name):
    spec = load_library(name)
    assert load_text(dumps(spec)) == spec


def test_it_writes_short_values_on_one_line_and_long_ones_over_several():
    text = dumps({'runner': {'type': 'EpochBasedRunner', 'max_epochs': 100},
                  'workflow': [('train', 1)],
                  'model': {'type': 'ImageClassifier', 'backbone': {'type': 'ResNet', 'depth': 50,
                                                                    'out_indices': (3,)},
                            'head': {'type': 'LinearClsHead', 'num_classes': 1000, 'in_channels': 2048}}})
    assert text == (
        "runner = dict(type='EpochBasedRunner', max_epochs=100)\n"
        "workflow = [('train', 1)]\n"
        'model = dict(\n'
        "    type='ImageClassifier',\n"
        "    backbone=dict(type='ResNet', depth=50, out_indices=(3,)),\n"
        "    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048),\n"
        ')\n')


def test_it_writes_keys_that_are_not_names_as_a_dict_display():
    text = dumps({'paramwise_cfg': {'custom_keys': {'.cls_token': {'decay_mult': 0.0}}}})
    assert text == "paramwise_cfg = dict(custom_keys={'.cls_token': dict(decay_mult=0.0)})\n"


def test_it_keeps_strings_that_look_like_base_references():
    spec = {'note': '{{_base_.model}}', 'quote': "it's \"quoted\"\n", 'unicode': 'héllo 日本'}
    assert load_text(dumps(spec)) == spec


def test_it_writes_json_with_tuples_as_lists():
    text = dumps({'topk': (1, 5), 'name': 'héllo'}, format='json')
    assert json.loads(text) == {'topk': [1, 5], 'name': 'héllo'}
    assert text == '{\n  "topk": [\n    1,\n    5\n  ],\n  "name": "héllo"\n}\n'


def test_it_is_deterministic():
    spec = load_library('vision_transformer/vit-base-p16_ft-64xb64_in1k-384.py')
    assert dumps(spec) == dumps(load_library('vision_transformer/vit-base-p16_ft-64xb64_in1k-384.py'))


def test_it_refuses_an_unknown_format():
    assert str(spec_error(dumps, {}, format='yaml')) == "<spec>: unknown format 'yaml' — use 'py' or 'json'"


def test_it_refuses_a_top_level_key_that_is_not_a_name():
    assert spec_error(dumps, {'my-key': 1}).message == "top-level key 'my-key' cannot be written as a Python assignment"
