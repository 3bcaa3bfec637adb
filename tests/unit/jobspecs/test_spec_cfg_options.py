"""--cfg-options overrides (manual section 4.4), applied after inheritance."""

import pytest

from jobspecs import load_library, load_text, parse_cfg_options
from tests.support.spec_source import spec_error

RESNET50 = 'resnet/resnet50_8xb32_in1k.py'


def test_it_updates_keys_of_dict_chains():
    spec = load_library(RESNET50, ['model.backbone.norm_eval=False'])
    assert spec['model']['backbone']['norm_eval'] is False
    assert spec['model']['backbone']['depth'] == 50


def test_it_updates_keys_inside_a_list_of_configs():
    spec = load_library(RESNET50, ['data.train.pipeline.2.flip_prob=0.0'])
    assert spec['data']['train']['pipeline'][2] == {'type': 'RandomFlip', 'flip_prob': 0.0,
                                                    'direction': 'horizontal'}


def test_it_updates_list_and_tuple_values():
    spec = load_library(RESNET50, ['workflow="[(train,1),(val,1)]"'])
    assert spec['workflow'] == [('train', 1), ('val', 1)]


def test_it_applies_options_after_inheritance():
    spec = load_text("_base_ = '../resnet/resnet50_8xb32_in1k.py'\nrunner = dict(max_epochs=300)",
                     cfg_options=['runner.max_epochs=5'])
    assert spec['runner'] == {'type': 'EpochBasedRunner', 'max_epochs': 5}


def test_it_takes_options_as_a_dict_of_typed_values():
    spec = load_library(RESNET50, {'runner.max_epochs': 3, 'data.samples_per_gpu': 8,
                                   'model.head': {'num_classes': 10}, 'work_dir': '10'})
    assert spec['runner']['max_epochs'] == 3 and spec['data']['samples_per_gpu'] == 8
    assert spec['model']['head']['num_classes'] == 10 and spec['model']['head']['in_channels'] == 2048
    assert spec['work_dir'] == '10'


def test_it_creates_new_keys():
    assert load_text('', cfg_options=['resources.num_workers=2']) == {'resources': {'num_workers': 2}}


@pytest.mark.parametrize(('option', 'expected'), [
    ('a=1', 1),
    ('a=-3', -3),
    ('a=0.5', 0.5),
    ('a=1e-4', 1e-4),
    ('a=True', True),
    ('a=false', False),
    ('a=None', None),
    ('a=none', 'none'),
    ('a=pillow', 'pillow'),
    ("a='quoted'", 'quoted'),
    ('a=', ''),
    ('a=1,2,3', [1, 2, 3]),
    ('a=[a,b,c]', ['a', 'b', 'c']),
    ('a=[]', []),
    ('a=()', ()),
    ('a=(1,)', (1,)),
    ('a=[(1,2,3),[a,b],c]', [(1, 2, 3), ['a', 'b'], 'c']),
    ('a=[(train,1), (val,1)]', [('train', 1), ('val', 1)]),
    ('a=x=y', 'x=y'),
    ('a=my dir', 'my dir'),
])
def test_it_parses_values_like_mmcv(option, expected):
    value = parse_cfg_options([option])['a']
    assert value == expected and type(value) is type(expected)


def test_it_keeps_the_dotted_keys_when_parsing():
    assert parse_cfg_options(['model.backbone.depth=18', 'lr_config.step=[1,2]']) == {
        'model.backbone.depth': 18, 'lr_config.step': [1, 2]}


def test_it_refuses_an_index_past_the_end_of_a_list():
    error = spec_error(load_library, RESNET50, ['data.train.pipeline.9.flip_prob=0.0'])
    assert str(error) == ('<cfg_options>:1:33: index 9 is out of range: '
                          'data.train.pipeline has 7 elements')


def test_it_refuses_a_word_key_into_a_list():
    error = spec_error(load_library, RESNET50, ['workflow.train=1'])
    assert str(error) == ("<cfg_options>:1:16: workflow is a list, so 'train' cannot address one of its "
                          'elements — use a number, e.g. workflow.0')


def test_it_refuses_a_key_below_a_scalar():
    error = spec_error(load_library, RESNET50, ['log_level.x=1'])
    assert str(error) == ("<cfg_options>:1:13: log_level is a dict here but str in the base "
                          "(_base_/default_runtime.py:13), so it cannot be merged into it — "
                          'add _delete_=True to this dict to replace the base value')


@pytest.mark.parametrize(('options', 'message'), [
    (['runner.max_epochs'], '<cfg_options>:1:1: option \'runner.max_epochs\' has no "=" — '
                            'write "key=value", e.g. "runner.max_epochs=10"'),
    (['a..b=1'], "<cfg_options>:1:1: option key 'a..b' has an empty part — "
                 'write a dotted key, e.g. model.head.num_classes=10'),
    (['1abc=1'], "<cfg_options>:1:1: '1abc' cannot be a top-level key of a spec — "
                 'top-level keys are Python names such as model, data or runner'),
    (['_base_=x'], "<cfg_options>:1:1: '_base_' cannot be a top-level key of a spec — "
                   'top-level keys are Python names such as model, data or runner'),
    (['a=[1,2'], "<cfg_options>:1:3: unbalanced brackets in '[1,2' — write lists as [a,b] and tuples as (a,b)"),
    (['a=inf'], "<cfg_options>:1:3: 'inf' is not a finite number — "
                'write a finite number, or quote words with letters only'),
    (['a=' + '9' * 30], f"<cfg_options>:1:3: integer {'9' * 30} is too large — "
                        'integers must lie between -2**63 and 2**63'),
    ([3], '<cfg_options>:1:1: option 3 is not a string — write "key=value", e.g. "runner.max_epochs=10"'),
    ('a=1', '<cfg_options>: cfg_options must be a list of "key=value" strings or a dict — '
            "e.g. ['runner.max_epochs=10']"),
])
def test_it_refuses_malformed_options(options, message):
    assert str(spec_error(parse_cfg_options, options)) == message


def test_it_refuses_options_that_contradict_each_other():
    error = spec_error(load_text, '', cfg_options=['a=1', 'a.b=2'])
    assert str(error) == "<cfg_options>:2:5: option 'a.b' conflicts with option 'a'"


def test_it_refuses_a_dict_value_that_is_not_plain_data():
    error = spec_error(load_text, '', cfg_options={'a': {1, 2}})
    assert str(error) == '<cfg_options>:1:1: a value of type set cannot be part of a spec'
