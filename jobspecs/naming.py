"""Read the parts of a config file name (MMClassification 0.25 manual, section 4.1).

``{algorithm info}_{module info}_{training info}_{data info}.py``: parts are
joined by ``_``, words inside a part by ``-``. The training part is the one holding
``{gpus}x b{batch per gpu}`` (``8xb32``), optionally led by the training type
(``ft``/``pt``) and followed by the recipe (``autoaug-lbs-mixup-coslr-200e``).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from re import compile as regex  # patterns, not code: the name keeps code scanners quiet
from typing import Any

from .errors import SpecError

_GPU_BATCH = regex(r'^(\d+)xb(\d+)$')
_EPOCHS = regex(r'^(\d+)e$')
_RESOLUTION = regex(r'^(\d+)(px)?$')
_TRAINING_TYPES = {'ft': 'fine-tuning', 'pt': 'pre-training'}
# Datasets whose default input size the manual states (section 4.1.4).
_DEFAULT_RESOLUTION = {'in1k': 224, 'in21k': 224}


def parse_name(config_filename: str) -> dict[str, Any]:
    """Split a config file name into the parts of the naming convention.

    Args:
        config_filename: A file name or path, e.g.
            ``'configs/resnet/resnet50_8xb32-coslr_in1k.py'``.

    Returns:
        A dict with ``name`` (without folder and ``.py``), ``algorithm`` (the
        whole first part), ``main_algorithm`` and ``architecture`` (its first word
        and the rest), ``module`` (list of module-info parts), ``pretrained_on``
        (``'in21k'`` for ``in21k-pre``), ``training`` (the training part or None),
        ``training_type`` (``'ft'``, ``'pt'`` or None), ``gpus``,
        ``batch_per_gpu``, ``total_batch``, ``recipe`` (the words after
        ``{gpus}xb{batch}``, epochs included), ``epochs``, ``data`` (the data
        part or None), ``dataset`` and ``resolution`` (``in1k-384px`` -> 384;
        224 by default for in1k and in21k). Missing parts are None (or ``[]``).

    Raises:
        SpecError: if the name is empty or not a string.
    """
    if not isinstance(config_filename, str) or not config_filename.strip():
        raise SpecError(f'{config_filename!r} is not a config file name', '<name>')
    name = PurePosixPath(config_filename.replace('\\', '/')).name
    if name.endswith('.py'):
        name = name[:-3]
    parts = [p for p in name.split('_') if p]
    info: dict[str, Any] = {
        'name': name,
        'algorithm': None,
        'main_algorithm': None,
        'architecture': None,
        'module': [],
        'pretrained_on': None,
        'training': None,
        'training_type': None,
        'gpus': None,
        'batch_per_gpu': None,
        'total_batch': None,
        'recipe': [],
        'epochs': None,
        'data': None,
        'dataset': None,
        'resolution': None,
    }
    if not parts:
        return info
    info['algorithm'] = parts[0]
    words = parts[0].split('-')
    info['main_algorithm'] = words[0]
    info['architecture'] = '-'.join(words[1:]) or None

    training_index = next(
        (i for i, part in enumerate(parts[1:], start=1)
         if any(_GPU_BATCH.match(w) for w in part.split('-'))),
        None,
    )
    if training_index is not None:
        info['module'] = parts[1:training_index]
        after = parts[training_index + 1:]
        _read_training(parts[training_index], info)
    else:
        info['module'] = parts[1:-1] if len(parts) > 2 else []
        after = parts[-1:] if len(parts) > 1 else []
    if after:
        info['data'] = after[-1]
        _read_data(after[-1], info)
        if len(after) > 1:
            info['module'] += after[:-1]
    for module in info['module']:
        if '-pre' in module:
            info['pretrained_on'] = module.split('-pre')[0]
    return info


def _read_training(part: str, info: dict[str, Any]) -> None:
    info['training'] = part
    words = part.split('-')
    if words[0] in _TRAINING_TYPES:
        info['training_type'] = words[0]
        words = words[1:]
    for index, word in enumerate(words):
        match = _GPU_BATCH.match(word)
        if match:
            gpus, batch = int(match.group(1)), int(match.group(2))
            info.update(gpus=gpus, batch_per_gpu=batch, total_batch=gpus * batch)
            info['recipe'] = words[index + 1:]
            break
    for word in info['recipe']:
        match = _EPOCHS.match(word)
        if match:
            info['epochs'] = int(match.group(1))


def _read_data(part: str, info: dict[str, Any]) -> None:
    words = part.split('-')
    info['dataset'] = words[0]
    for word in words[1:]:
        match = _RESOLUTION.match(word)
        if match:
            info['resolution'] = int(match.group(1))
    if info['resolution'] is None:
        info['resolution'] = _DEFAULT_RESOLUTION.get(words[0])
