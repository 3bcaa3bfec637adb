"""Every path-looking field the engine reads is marked in the path policy (jobspecs/paths.py).

A new dataset argument, hook option or section key that names a file must be declared there with its area, so
that submit and the worker check it; this test walks the registries' arguments, the schema's keys and the
library specs, and fails for one that is not.
"""
import inspect
import re

import pytest

import jobspecs
from jobspecs import paths
from jobspecs.schema import KNOWN_KEYS
from workers import registry

_LOOKS_LIKE_A_PATH = re.compile(r"(^|_)(path|file|dir|folder|prefix|root|checkpoint|pretrained|url|uri)s?$|_from$|^classes$")

# registry -> the spec section whose dicts are built with it
SECTIONS = {"DATASETS": ("data",), "MODELS": ("model",), "INITIALIZERS": ("model",),
            "HOOKS": ("custom_hooks",), "TRANSFORMS": ("data",)}
# Path-looking arguments that are no path, each with the reason.
NOT_PATHS = {
    ("INITIALIZERS", "prefix"): "init_cfg's prefix selects checkpoint keys ('backbone.'), it names no file",
    ("HOOKS", "resume_from"): "EMAHook refuses it (NotImplementedError): the spec's own resume_from is the way",
}
# Registries built from nothing a spec writes as keyword arguments.
NOT_FROM_SPECS = {"RUNNERS": "runner=dict(type=...) passes only max_epochs/max_iters; the rest comes from the service"}


def _registries():
    registry.ensure_registered()
    return {name: getattr(registry, name) for name in registry.__all__
            if isinstance(getattr(registry, name, None), registry.Registry)}


def _path_arguments():
    for reg_name, reg in _registries().items():
        for entry in reg:
            try:
                params = inspect.signature(reg.get(entry)).parameters
            except (TypeError, ValueError):
                continue
            for param in params:
                if _LOOKS_LIKE_A_PATH.search(param):
                    yield reg_name, entry, param


@pytest.mark.parametrize("reg_name, entry, param", sorted(
    a for a in set(_path_arguments()) if a[0] not in NOT_FROM_SPECS and (a[0], a[2]) not in NOT_PATHS))
def test_it_marks_every_path_argument_of_the_registries(reg_name, entry, param):
    section = SECTIONS.get(reg_name)
    assert section is not None, f"{reg_name} has path-looking arguments ({entry}.{param}) but no section here"
    probes = [section + ("x", param), section + (0, param), section + ("x", "y", 0, param)]
    if reg_name == "HOOKS":
        probes += [("log_config", "hooks", 0, param)]
    assert any(paths.field_for(p) for p in probes), (
        f"{entry}({param}=...) looks like a path but jobspecs/paths.py PATH_FIELDS does not mark it; "
        "declare it with its area (or list it in NOT_PATHS with the reason)")


def test_it_marks_the_path_keys_of_the_schema():
    for key in KNOWN_KEYS:
        if _LOOKS_LIKE_A_PATH.search(key):
            assert paths.field_for((key,)), f"top-level {key!r} looks like a path but is not marked"


def test_it_knows_the_exemptions_it_lists():
    """An exemption for an argument that no longer exists is stale: drop it."""
    found = {(reg, param) for reg, _entry, param in _path_arguments()}
    assert set(NOT_PATHS) <= found, sorted(set(NOT_PATHS) - found)


_LOOKS_LIKE_A_PATH_VALUE = re.compile(r"/|\.(txt|pth|pt|mat|json|csv|pkl|xml|bin|npy|npz|tar)$|^https?:|^~")
# keys whose string values hold a '/' without being paths: registry names, ConvMixer's arch ('768/32')
VALUE_NOT_PATHS = ("type", "arch")


def _library_path_values():
    for name in jobspecs.list_library():
        try:
            spec = jobspecs.load(jobspecs.library_dir() / name)
        except jobspecs.SpecError:
            continue  # a base file of its own (e.g. a dataset without a model)

        def walk(node, path):
            items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
            for key, value in items:
                if isinstance(value, str):
                    if _LOOKS_LIKE_A_PATH_VALUE.search(value) and key not in VALUE_NOT_PATHS:
                        yield path + (key,), value
                else:
                    yield from walk(value, path + (key,))

        for key in KNOWN_KEYS:
            if key in spec:
                for location, value in walk(spec[key], (key,)):
                    yield name, location, value


def test_it_marks_every_path_the_library_specs_write():
    unmarked = sorted({(".".join(map(str, loc)), value) for _name, loc, value in _library_path_values()
                       if paths.field_for(loc) is None})
    assert not unmarked, f"path-looking values at unmarked fields: {unmarked[:10]}"
