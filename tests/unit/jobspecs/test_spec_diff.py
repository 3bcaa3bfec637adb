"""diff: a unified diff of two resolved specs."""

from jobspecs import diff, load_library


def test_it_shows_what_an_override_changes():
    a = load_library('resnet/resnet50_8xb32_in1k.py')
    b = load_library('resnet/resnet50_8xb32_in1k.py', ['runner.max_epochs=300'])
    assert diff(a, b, 'resnet50', 'resnet50-300e') == (
        '--- resnet50\n'
        '+++ resnet50-300e\n'
        '@@ -111,7 +111,7 @@\n'
        " optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001)\n"
        ' optimizer_config = dict(grad_clip=None)\n'
        " lr_config = dict(policy='step', step=[30, 60, 90])\n"
        "-runner = dict(type='EpochBasedRunner', max_epochs=100)\n"
        "+runner = dict(type='EpochBasedRunner', max_epochs=300)\n"
        ' checkpoint_config = dict(interval=1)\n'
        " log_config = dict(interval=100, hooks=[dict(type='TextLoggerHook')])\n"
        " dist_params = dict(backend='nccl')\n")


def test_it_is_empty_for_equal_specs():
    spec = load_library('lenet/lenet5_mnist.py')
    assert diff(spec, load_library('lenet/lenet5_mnist.py')) == ''


def test_it_ignores_key_order():
    assert diff({'a': 1, 'b': {'c': 1, 'd': 2}}, {'b': {'d': 2, 'c': 1}, 'a': 1}) == ''


def test_it_shows_added_and_removed_keys():
    assert diff({'a': 1}, {'a': 1, 'b': 2}) == '--- a\n+++ b\n@@ -1 +1,2 @@\n a = 1\n+b = 2\n'
    assert diff({'a': 1, 'b': 2}, {'b': 2}, 'old', 'new') == '--- old\n+++ new\n@@ -1,2 +1 @@\n-a = 1\n b = 2\n'
