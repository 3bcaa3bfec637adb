"""validate: shapes and types of the keys the manual uses, plus resources and sweep."""

import pytest

from jobspecs import load_library, load_text, validate
from tests.support.spec_source import dedent

PRIMITIVE = "_base_ = '../resnet/resnet50_8xb32_in1k.py'\n"


def problems(text, cfg_options=None, **kwargs):
    spec, positions = load_text(PRIMITIVE + dedent(text), 'spec.py', cfg_options, positions=True)
    return [str(e) for e in validate(spec, positions, **kwargs)]


def test_it_accepts_a_valid_spec():
    assert problems('') == []


@pytest.mark.parametrize(('text', 'message'), [
    ('runner = dict(max_epochs=0)', 'spec.py:2:26: runner.max_epochs must be a positive integer, not 0'),
    ("runner = dict(max_epochs='10')", "spec.py:2:26: runner.max_epochs must be a positive integer, not '10'"),
    ("runner = dict(_delete_=True, type='IterBasedRunner')",
     "spec.py:2:10: runner has no 'max_iters' — e.g. runner = dict(type='IterBasedRunner', max_iters=10000)"),
    ('runner = dict(max_iters=10)',
     'spec.py:2:10: runner sets both max_epochs and max_iters — '
     'keep max_epochs for EpochBasedRunner, max_iters for IterBasedRunner'),
    ('data = dict(samples_per_gpu=0)', 'spec.py:2:29: data.samples_per_gpu must be an integer from 1 to 4096, not 0'),
    ('data = dict(workers_per_gpu=-1)', 'spec.py:2:29: data.workers_per_gpu must be an integer from 0 to 16, not -1'),
    ('data = dict(workers_per_gpu=17)', 'spec.py:2:29: data.workers_per_gpu must be an integer from 0 to 16, not 17 '
                                        '— each is a loader process beside the trainer; a few keep a GPU fed'),
    ('data = dict(train_dataloader=dict(samples_per_gpu=4097))',
     'spec.py:2:51: data.train_dataloader.samples_per_gpu must be an integer from 1 to 4096, not 4097 '
     '— a larger batch takes more GPUs (resources.num_workers)'),
    ("data = dict(train=dict(pipeline=[dict(size=3)]))", "spec.py:2:34: data.train.pipeline.0 has no 'type' — "
                                                          "add type='...' naming the class"),
    ('data = dict(train=dict(type=3))', 'spec.py:2:29: data.train.type must be a class name string, not 3'),
    ("model = dict(head=dict(num_classes=-1))", 'spec.py:2:36: model.head.num_classes must be a positive integer, not -1'),
    ("model = 'resnet'", "spec.py:2:9: model must be a dict, not 'resnet' — e.g. model=dict(type='...', ...)"),
    ('optimizer = dict(lr=-0.1)', 'spec.py:2:21: optimizer.lr must be a number >= 0, not -0.1'),
    ("lr_config = dict(policy='stpe')", "spec.py:2:25: lr_config.policy 'stpe' is not a known policy — "
                                        "did you mean 'Step'?"),
    ("lr_config = dict(step=[30, 'x'])", "spec.py:2:23: lr_config.step must be a positive integer or a list of them, "
                                         "not [30, 'x'] (list)"),
    ("lr_config = dict(_delete_=True, policy='CosineAnnealing')",
     'spec.py:2:13: lr_config with policy CosineAnnealing needs exactly one of min_lr and min_lr_ratio — e.g. min_lr=0'),
    ("lr_config = dict(warmup='cosine', warmup_iters=5)", "spec.py:2:25: lr_config.warmup must be one of 'constant', "
                                                          "'linear', 'exp', not 'cosine'"),
    ("lr_config = dict(warmup='linear')",
     'spec.py:2:13: lr_config.warmup_iters must be a positive integer, not None'),
    ('evaluation = dict(interval=0)', 'spec.py:2:28: evaluation.interval must be a positive integer, not 0'),
    ("workflow = [('train', 1), ('test', 1)]", "spec.py:2:27: workflow.1 must be a pair like ('train', 1), "
                                                "not ('test', 1) (tuple) — e.g. workflow = [('train', 1)] or "
                                                "[('train', 1), ('val', 1)]"),
    ("custom_hooks = [dict(type='EMAHook', priority='URGENT')]",
     "spec.py:2:47: custom_hooks.0.priority must be one of 'HIGHEST', 'VERY_HIGH', 'HIGH', 'ABOVE_NORMAL', "
     "'NORMAL', 'BELOW_NORMAL', 'LOW', 'VERY_LOW', 'LOWEST', not 'URGENT'"),
    ("log_level = 'LOUD'", "spec.py:2:13: log_level must be one of 'DEBUG', 'INFO', 'WARNING', 'ERROR', "
                           "'CRITICAL', not 'LOUD'"),
    ('fp16 = dict(loss_scale=0)', "spec.py:2:24: fp16.loss_scale must be a positive number, 'dynamic' or a dict, not 0"),
    ('optimizer_config = dict(grad_clip=dict(max_norm=0), _delete_=True)',
     'spec.py:2:49: optimizer_config.grad_clip.max_norm must be a positive number, not 0'),
    ('load_from = 3', 'spec.py:2:13: load_from must be a string or None, not 3'),
])
def test_it_points_at_the_bad_value(text, message):
    assert problems(text) == [message]


def test_it_requires_what_training_needs():
    assert [str(e) for e in validate(load_text("model = dict(type='ImageClassifier')"))] == [
        "<spec>: the spec has no 'data' — add data = dict(...) or inherit it through _base_",
        "<spec>: the spec has no 'optimizer' — add optimizer = dict(...) or inherit it through _base_",
        "<spec>: the spec has no 'runner' — add runner = dict(...) or inherit it through _base_",
    ]
    assert validate(load_text("model = dict(type='ImageClassifier')"), for_training=False) == []


def test_it_names_the_spec_file_for_a_missing_key():
    spec, positions = load_text("model = dict(type='ImageClassifier')", 'spec.py', positions=True)
    assert str(validate(spec, positions)[0]) == (
        "spec.py: the spec has no 'data' — add data = dict(...) or inherit it through _base_")


def test_it_allows_any_intermediate_variable():
    assert problems("my_pipeline = 3\nfoo = dict(bar='baz')\nanything_goes = [None]") == []


def test_it_reports_without_positions_too():
    spec = load_library('resnet/resnet50_8xb32_in1k.py', ['runner.max_epochs=0'])
    assert [str(e) for e in validate(spec)] == ['<spec>: runner.max_epochs must be a positive integer, not 0']


def test_it_returns_every_problem_at_once():
    assert len(problems('runner = dict(max_epochs=0)\ndata = dict(samples_per_gpu=0)')) == 2


def test_it_accepts_resources_for_ddp_and_deepspeed():
    assert problems("resources = dict(num_workers=4, cpus_per_worker=8, gpus_per_worker=1, strategy='ddp', "
                    'max_failures=2)') == []
    assert problems("resources = dict(num_workers=2, strategy='deepspeed', "
                    'deepspeed=dict(zero_stage=2, offload_optimizer=True, bf16=False, '
                    'config=dict(steps_per_print=100)))') == []


@pytest.mark.parametrize(('text', 'message'), [
    ('resources = dict(num_workers=0)', 'spec.py:2:30: resources.num_workers must be a positive integer, not 0'),
    ('resources = dict(num_worker=2)', "spec.py:2:29: resources has no key 'num_worker' — did you mean 'num_workers'?"),
    ("resources = dict(strategy='fsdp')", "spec.py:2:27: resources.strategy must be one of 'ddp', 'deepspeed', "
                                          "not 'fsdp'"),
    ('resources = dict(cpus_per_worker=0)', 'spec.py:2:34: resources.cpus_per_worker must be a positive number, not 0'),
    ('resources = dict(gpus_per_worker=-1)', 'spec.py:2:34: resources.gpus_per_worker must be a number >= 0, not -1'),
    ('resources = dict(max_failures=-1)', 'spec.py:2:31: resources.max_failures must be an integer >= 0, not -1 '
                                          '— retries of a run whose job died; -1 (for ever) is not allowed'),
    ('resources = dict(deepspeed=dict())', "spec.py:2:28: resources.deepspeed is set but resources.strategy is not "
                                           "'deepspeed' — add strategy='deepspeed', or remove the deepspeed settings"),
    ("resources = dict(strategy='deepspeed', deepspeed=dict(zero_stage=4))",
     'spec.py:2:66: resources.deepspeed.zero_stage must be 0, 1, 2 or 3, not 4'),
    ("resources = dict(strategy='deepspeed', deepspeed=dict(zero_stag=2))",
     "spec.py:2:65: resources.deepspeed has no key 'zero_stag' — did you mean 'zero_stage'?"),
])
def test_it_checks_resources(text, message):
    assert problems(text) == [message]


SWEEP = dedent("""
    sweep = dict(
        space={
            'optimizer.lr': dict(type='loguniform', lower=1e-4, upper=1e-1),
            'model.backbone.depth': dict(type='choice', values=[18, 34, 50]),
            'data.train.pipeline.1.size': dict(type='grid_search', values=[160, 224]),
            'model.backbone.drop_path_rate': dict(type='uniform', lower=0.0, upper=0.2),
        },
        metric='accuracy_top-1',
        mode='max',
        search_alg=None,
        scheduler=dict(type='ASHAScheduler', grace_period=1),
        num_samples=8,
        max_concurrent_trials=2,
    )
""")


def test_it_accepts_a_sweep_over_dotted_keys():
    assert problems(SWEEP) == []


@pytest.mark.parametrize(('text', 'message'), [
    ("sweep = dict(space={'optimzer.lr': dict(type='choice', values=[1])}, metric='m', mode='max')",
     "spec.py:2:36: sweep.space key 'optimzer.lr': the spec has no 'optimzer' — did you mean 'optimizer'?"),
    ("sweep = dict(space={'optimizer.lr': dict(type='loguniform', lower=0, upper=1)}, metric='m', mode='max')",
     'spec.py:2:67: sweep.space.optimizer.lr.lower must be a positive number (the domain is logarithmic), not 0'),
    ("sweep = dict(space={'optimizer.lr': dict(type='uniform', lower=1, upper=0)}, metric='m', mode='max')",
     'spec.py:2:37: sweep.space.optimizer.lr: lower (1) must be below upper (0)'),
    ("sweep = dict(space={'optimizer.lr': dict(type='choise', values=[1])}, metric='m', mode='max')",
     "spec.py:2:47: search domain 'choise' of sweep.space['optimizer.lr'] is not known — did you mean 'choice'?"),
    ("sweep = dict(space={'optimizer.lr': dict(type='choice')}, metric='m', mode='max')",
     "spec.py:2:37: search domain 'choice' of sweep.space['optimizer.lr'] needs values"),
    ("sweep = dict(space={}, metric='m', mode='max')", 'spec.py:2:20: sweep.space is empty — '
                                                        'add at least one dotted key to search over'),
    ("sweep = dict(space={'runner.max_epochs': dict(type='randint', lower=1, upper=5)}, metric='m', mode='best')",
     "spec.py:2:100: sweep.mode must be one of 'max', 'min', not 'best'"),
    ("sweep = dict(space={'runner.max_epochs': dict(type='randint', lower=1, upper=5)}, metric='m', mode='max', "
     'num_samples=0)', 'spec.py:2:119: sweep.num_samples must be a positive integer, not 0'),
    ("sweep = dict(space={'sweep.num_samples': dict(type='choice', values=[1])}, metric='m', mode='max')",
     "spec.py:2:42: sweep.space key 'sweep.num_samples' cannot change the sweep itself"),
])
def test_it_checks_sweeps(text, message):
    assert problems(text) == [message]


def test_it_names_what_a_sweep_lacks():
    assert problems("sweep = dict(space={'optimizer.lr': dict(type='choice', values=[0.1])}, mode='max')") == [
        "spec.py:2:9: sweep has no 'metric' — e.g. sweep = dict(space={'optimizer.lr': dict(type='loguniform', "
        "lower=1e-4, upper=1e-1)}, metric='accuracy_top-1', mode='max')"]


def test_it_refuses_something_that_is_not_a_spec():
    assert [str(e) for e in validate([1, 2])] == ['<spec>: a spec must be a dict, not list']
