"""Trainyard jobspecs: MMClassification 0.25 style config files, loaded without running them.

A spec is a Python-syntax file (manual section 4, "Learn about Configs") with
``_base_`` inheritance, ``_delete_``, intermediate variables, ``{{_base_.x}}``
references and ``--cfg-options`` overrides. The loader walks the syntax tree and
accepts only data, so a spec sent over HTTP by a stranger cannot import, call or
open anything. Pure standard library; nothing here imports workers/ or backend/.

Entry points:
    load(path, cfg_options=None, *, positions=False, root=None)
    load_text(text, filename='<spec>', cfg_options=None, *, positions=False, root=None)
    load_library(name, cfg_options=None, *, positions=False)
    load_user_config(path, cfg_options=None, *, positions=False, allow_imports=())  (the CLI's: _base_ free)
    load_with_positions(path, cfg_options=None, *, root=None)
    parse_cfg_options(options), validate(spec, positions=None, *, for_training=True)
    spec_hash(spec), dumps(spec, format='py'), diff(a, b, a_name='a', b_name='b')
    library_dir(), list_library(), parse_name(config_filename)
"""

from .canonical import diff, dumps, spec_hash
from .errors import SpecError
from .library import library_dir, list_library
from .loader import (
    Positions,
    clear_cache,
    load,
    load_library,
    load_text,
    load_user_config,
    load_with_positions,
)
from .naming import parse_name
from .options import parse_cfg_options
from .schema import validate

__all__ = [
    'Positions',
    'SpecError',
    'clear_cache',
    'diff',
    'dumps',
    'library_dir',
    'list_library',
    'load',
    'load_library',
    'load_text',
    'load_user_config',
    'load_with_positions',
    'parse_cfg_options',
    'parse_name',
    'spec_hash',
    'validate',
]
