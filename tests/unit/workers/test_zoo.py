"""The model zoo (issue #7): every metafile variant builds with its published parameters and FLOPs.

Each model of each ``jobspecs/library/<family>/metafile.yml`` is loaded from the spec library, built on
the ``meta`` device and counted with mmcv's rules (``workers.models.complexity``): the parameters must be
within 1% and the FLOPs within 5% of the seed's table, at the table's resolution, and for RepVGG/RepMLP
also after ``switch_to_deploy()``. A variant marked ``Unmatched`` in its metafile is skipped with that
reason (one marked ``Unmatched: "FLOPs only: ..."`` still has its parameters checked).
"""

from __future__ import annotations

import pytest

import jobspecs
from workers.models.complexity import build_meta_model, count_params, get_model_complexity_info
from workers.models.zoo import ZooEntry, metafiles, zoo_entries, zoo_entry

ENTRIES = zoo_entries()
PARAMS_TOLERANCE = 0.01
FLOPS_TOLERANCE = 0.05


def _deploy(model) -> bool:
    """Call ``switch_to_deploy()`` on the outermost module having it; ``False`` if none has."""
    for module in model.modules():
        switch = getattr(module, "switch_to_deploy", None)
        if callable(switch):
            switch()
            return True
    return False


def _assert_close(measured: int, published: int, tolerance: float, what: str, entry: ZooEntry) -> None:
    error = abs(measured - published) / published
    assert error <= tolerance, (f"{entry.spec} ({entry.variant}): {what} {measured:,} vs published "
                                f"{published:,} ({error:.1%} off, tolerance {tolerance:.0%})")


def test_it_finds_the_metafiles():
    assert any(path.parent.name == "resnet" for path in metafiles())
    assert ENTRIES, "no model-zoo entries"


def test_it_lists_each_spec_once():
    specs = [entry.spec for entry in ENTRIES]
    duplicates = sorted({spec for spec in specs if specs.count(spec) > 1})
    assert not duplicates, f"specs listed twice in the metafiles: {duplicates}"


def test_it_looks_up_an_entry_by_spec_or_name():
    entry = zoo_entry("resnet/resnet50_8xb32_in1k.py")
    assert entry.family == "ResNet"
    assert entry.variant == "ResNet-50"
    assert (entry.params, entry.flops, entry.resolution) == (25_560_000, 4_120_000_000, (224, 224))
    assert entry.top1 == pytest.approx(76.55)
    assert zoo_entry("resnet/resnet50_8xb32_in1k") is entry
    assert zoo_entry("resnet50_8xb32_in1k") is entry
    with pytest.raises(KeyError, match="no model-zoo entry"):
        zoo_entry("resnet/nope.py")


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry.spec for entry in ENTRIES])
def test_it_reproduces_the_published_complexity(entry: ZooEntry):
    assert entry.params and entry.flops, f"{entry.spec}: the metafile needs Parameters and FLOPs"
    spec = jobspecs.load_library(entry.spec)  # the spec exists and validates
    flops_only = bool(entry.unmatched) and entry.unmatched.startswith("FLOPs only")
    if entry.unmatched and not flops_only:
        pytest.skip(f"Unmatched: {entry.unmatched}")
    model = build_meta_model(spec["model"])
    flops, params = get_model_complexity_info(model, entry.input_shape)
    _assert_close(params, entry.params, PARAMS_TOLERANCE, "params", entry)
    if flops_only:  # the parameters are still checked; the published FLOPs follow a quirk we do not copy
        pytest.skip(f"Unmatched: {entry.unmatched}")
    _assert_close(flops, entry.flops, FLOPS_TOLERANCE, "FLOPs", entry)
    if entry.deploy_params is None and entry.deploy_flops is None:
        return
    assert _deploy(model), f"{entry.spec}: the metafile has Deploy figures but no module has switch_to_deploy"
    flops, params = get_model_complexity_info(model, entry.input_shape)
    if entry.deploy_params is not None:
        _assert_close(count_params(model), entry.deploy_params, PARAMS_TOLERANCE, "deploy params", entry)
    if entry.deploy_flops is not None:
        _assert_close(flops, entry.deploy_flops, FLOPS_TOLERANCE, "deploy FLOPs", entry)
