"""What a spec may write: literals, names, dict()/list()/tuple(), arithmetic, indexing."""

from jobspecs import load_text
from tests.support.spec_source import dedent


def test_it_reads_literals_as_plain_data():
    spec = load_text(dedent("""
        name = 'resnet'
        depth = 50
        lr = 0.1
        frozen = False
        checkpoint = None
        out_indices = (3, )
        mean = [123.675, 116.28, 103.53]
        metric_options = {'topk': (1, 5)}
    """))
    assert spec == {
        'name': 'resnet', 'depth': 50, 'lr': 0.1, 'frozen': False, 'checkpoint': None,
        'out_indices': (3,), 'mean': [123.675, 116.28, 103.53], 'metric_options': {'topk': (1, 5)},
    }


def test_it_keeps_tuples_as_tuples_and_lists_as_lists():
    spec = load_text("workflow = [('train', 1), ('val', 1)]")
    assert spec['workflow'] == [('train', 1), ('val', 1)]
    assert type(spec['workflow']) is list and type(spec['workflow'][0]) is tuple


def test_it_builds_dicts_with_keywords_and_unpacking():
    spec = load_text(dedent("""
        img_norm_cfg = dict(mean=[1, 2, 3], std=[4, 5, 6], to_rgb=True)
        a = dict(type='Normalize', **img_norm_cfg)
        b = dict(**img_norm_cfg, backend='pillow')
        c = dict(img_norm_cfg, to_rgb=False)
    """))
    assert spec['a'] == {'type': 'Normalize', 'mean': [1, 2, 3], 'std': [4, 5, 6], 'to_rgb': True}
    assert spec['b'] == {'mean': [1, 2, 3], 'std': [4, 5, 6], 'to_rgb': True, 'backend': 'pillow'}
    assert spec['c'] == {'mean': [1, 2, 3], 'std': [4, 5, 6], 'to_rgb': False}


def test_it_lets_later_keys_win_in_a_dict_display():
    spec = load_text("base = {'a': 1, 'b': 2}\nx = {**base, 'b': 3}")
    assert spec['x'] == {'a': 1, 'b': 3}


def test_it_converts_with_list_and_tuple():
    spec = load_text("a = list((1, 2))\nb = tuple([1, 2])\nc = list()\nd = tuple(a)")
    assert spec == {'a': [1, 2], 'b': (1, 2), 'c': [], 'd': (1, 2)}


def test_it_does_arithmetic_on_numbers():
    spec = load_text(dedent("""
        warmup_iters = 20 * 1252
        warmup_ratio = 1.0 / 10
        target_ratio = (0.85 / 0.95, 1)
        thr = 256 / 9 * 4
        a = -3 + +2
        b = 7 // 2
        c = 7 % 3
        d = 2 ** 10
        e = 10 ** -2
        f = 1e-4 - 1
    """))
    assert spec['warmup_iters'] == 25040
    assert spec['warmup_ratio'] == 0.1
    assert spec['target_ratio'] == (0.85 / 0.95, 1)
    assert spec['thr'] == 256 / 9 * 4
    assert (spec['a'], spec['b'], spec['c'], spec['d'], spec['e'], spec['f']) == (-1, 3, 1, 1024, 0.01, 1e-4 - 1)


def test_it_joins_and_repeats_strings_lists_and_tuples():
    spec = load_text(dedent("""
        root = 'data/'
        prefix = root + 'imagenet/train'
        mean = [127.5] * 3
        pair = (1, ) * 2
        pipeline = [dict(type='A')] + [dict(type='B')]
        line = '-' * 3
    """))
    assert spec['prefix'] == 'data/imagenet/train'
    assert spec['mean'] == [127.5, 127.5, 127.5]
    assert spec['pair'] == (1, 1)
    assert spec['pipeline'] == [{'type': 'A'}, {'type': 'B'}]
    assert spec['line'] == '---'


def test_it_indexes_bound_names():
    spec = load_text(dedent("""
        img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
        mean = img_norm_cfg['mean']
        first = mean[0]
        last = mean[-1]
    """))
    assert spec['mean'] == [123.675, 116.28, 103.53]
    assert (spec['first'], spec['last']) == (123.675, 103.53)


def test_it_unpacks_lists_inside_list_displays():
    spec = load_text("a = [1, 2]\nb = [0, *a, 3]\nc = (*a, )")
    assert spec['b'] == [0, 1, 2, 3] and spec['c'] == (1, 2)


def test_it_accepts_docstrings_comments_and_plain_f_strings():
    spec = load_text('"""A spec."""\n# a comment\nx = f"plain"  # trailing comment\n"a string as a comment"\n')
    assert spec == {'x': 'plain'}


def test_it_binds_chained_assignments_to_every_name():
    assert load_text('a = b = 1') == {'a': 1, 'b': 1}


def test_it_returns_unshared_plain_data():
    spec = load_text("p = [dict(type='A')]\ndata = dict(train=dict(pipeline=p), val=dict(pipeline=p))")
    spec['data']['train']['pipeline'].append('x')
    assert spec['data']['val']['pipeline'] == [{'type': 'A'}]
    assert spec['p'] == [{'type': 'A'}]


def test_it_loads_an_empty_spec_as_an_empty_dict():
    assert load_text('') == {}
    assert load_text('# nothing here\n') == {}
