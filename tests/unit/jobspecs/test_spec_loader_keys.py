"""The loader keys of the spec's ``data`` section (and of its ``*_dataloader`` dicts): ``pin_memory``,
``persistent_workers``, ``prefetch_factor`` and ``fuse_normalize``, typed and bounded, with near-misses named."""

import pytest

from jobspecs import load_text, validate
from tests.support.spec_source import dedent

PRIMITIVE = "_base_ = '../resnet/resnet50_8xb32_in1k.py'\n"


def problems(text):
    spec, positions = load_text(PRIMITIVE + dedent(text), 'spec.py', None, positions=True)
    return [str(e) for e in validate(spec, positions)]


@pytest.mark.parametrize('text', [
    'data = dict(pin_memory=True, persistent_workers=False, prefetch_factor=4, fuse_normalize=False)',
    'data = dict(pin_memory=None, prefetch_factor=None)',
    'data = dict(train_dataloader=dict(prefetch_factor=16, persistent_workers=True), '
    'val_dataloader=dict(pin_memory=False, fuse_normalize=True))',
])
def test_it_accepts_valid_loader_keys(text):
    assert problems(text) == []


@pytest.mark.parametrize(('text', 'message'), [
    ('data = dict(prefetch_factor=0)', 'data.prefetch_factor must be an integer from 1 to 16 or None, not 0'),
    ('data = dict(prefetch_factor=64)',
     'data.prefetch_factor must be an integer from 1 to 16 or None, not 64 — each worker holds this many batches'),
    ("data = dict(prefetch_factor='2')", "data.prefetch_factor must be an integer from 1 to 16 or None, not '2'"),
    ("data = dict(pin_memory='yes')", "data.pin_memory must be True or False, not 'yes'"),
    ('data = dict(persistent_workers=1)', 'data.persistent_workers must be True or False, not 1'),
    ('data = dict(fuse_normalize=None)', 'data.fuse_normalize must be True or False, not None'),
    ('data = dict(val_dataloader=dict(prefetch_factor=-1))',
     'data.val_dataloader.prefetch_factor must be an integer from 1 to 16 or None, not -1'),
    ('data = dict(train_dataloader=dict(persistent_workers=\'no\'))',
     "data.train_dataloader.persistent_workers must be True or False, not 'no'"),
    ('data = dict(pin_memroy=True)', "data.pin_memroy is not a loader key — did you mean 'pin_memory'?"),
    ('data = dict(test_dataloader=dict(prefetch_factr=2))',
     "data.test_dataloader.prefetch_factr is not a loader key — did you mean 'prefetch_factor'?"),
])
def test_it_rejects_bad_loader_keys(text, message):
    found = problems(text)
    assert len(found) == 1, found
    assert message in found[0]
