"""Schema check of a resolved spec: the shapes and types of the keys the manual uses.

Top-level keys follow MMClassification 0.25 (manual sections 4.2, 9 and 10); any
other top-level name is an intermediate variable and allowed freely. Trainyard adds
``resources`` (how a run is spread over Ray workers) and ``sweep`` (a Ray Tune
search over dotted keys). ``type=`` names are not checked here: the workers'
registries know which exist.

``sweep.space`` maps dotted keys of the spec to search domains written as dicts,
since a spec cannot call ``tune.choice``::

    sweep = dict(
        space={'optimizer.lr': dict(type='loguniform', lower=1e-4, upper=1e-1),
               'model.backbone.depth': dict(type='choice', values=[18, 34])},
        metric='accuracy_top-1', mode='max', num_samples=8)
"""

from __future__ import annotations

import difflib
from typing import Any

from .errors import SpecError

Path = tuple

# mmcv 1.x LrUpdaterHook / MomentumUpdaterHook policies, in the spelling mmcv builds
# the hook name from ('step' -> 'Step').
LR_POLICIES = ('Fixed', 'Step', 'Exp', 'Poly', 'Inv', 'CosineAnnealing', 'FlatCosineAnnealing',
               'CosineRestart', 'Cyclic', 'OneCycle', 'LinearAnnealing', 'CosineAnnealingCooldown')
MOMENTUM_POLICIES = ('Step', 'CosineAnnealing', 'Cyclic', 'OneCycle', 'LinearAnnealing')
WARMUPS = ('constant', 'linear', 'exp')
# MMCls 0.25's SAMPLERS: the training loader's sampler (top-level `sampler = dict(type=...)`).
SAMPLERS = ('RepeatAugSampler',)
# Manual section 10.2, "Priority list".
PRIORITIES = ('HIGHEST', 'VERY_HIGH', 'HIGH', 'ABOVE_NORMAL', 'NORMAL', 'BELOW_NORMAL', 'LOW',
              'VERY_LOW', 'LOWEST')
LOG_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')
STRATEGIES = ('ddp', 'deepspeed')
# resources.deepspeed: Trainyard's switches, and `config` merged over the DeepSpeed config they make
DEEPSPEED_KEYS = ('zero_stage', 'offload_optimizer', 'bf16', 'fp16', 'config')
RESOURCE_KEYS = ('num_workers', 'cpus_per_worker', 'gpus_per_worker', 'strategy', 'deepspeed',
                 'max_failures')
SWEEP_KEYS = ('space', 'metric', 'mode', 'search_alg', 'scheduler', 'num_samples',
              'max_concurrent_trials')
# Ray Tune search domains, written as dict(type=..., ...): required parameters.
DOMAINS = {
    'choice': ('values',),
    'grid_search': ('values',),
    'uniform': ('lower', 'upper'),
    'quniform': ('lower', 'upper', 'q'),
    'loguniform': ('lower', 'upper'),
    'qloguniform': ('lower', 'upper', 'q'),
    'randint': ('lower', 'upper'),
    'qrandint': ('lower', 'upper', 'q'),
    'lograndint': ('lower', 'upper'),
    'randn': ('mean', 'sd'),
    'qrandn': ('mean', 'sd', 'q'),
}
REQUIRED_FOR_TRAINING = ('model', 'data', 'optimizer', 'runner')
# Bounds that hold on any cluster (the operator's own maxima, e.g. CPUs per worker, are the backend's):
# a loader process per worker and GPU costs memory and a CPU; a batch beyond this fits no GPU's memory.
MAX_WORKERS_PER_GPU = 16
MAX_SAMPLES_PER_GPU = 4096
# batches in flight per loader worker: each one is a batch of images held in (shared) memory
MAX_PREFETCH_FACTOR = 16
# keys of `data` (and of data.train_dataloader / val_dataloader / test_dataloader) that the loaders read
LOADER_KEYS = ('samples_per_gpu', 'workers_per_gpu', 'pin_memory', 'persistent_workers', 'prefetch_factor',
               'fuse_normalize', 'drop_last')


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any) -> str:
    """A short repr; containers also say their type."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + '...'
    if isinstance(value, (dict, list, tuple)):
        text += f' ({type(value).__name__})'
    return text


def _dotted(path: Path) -> str:
    return '.'.join(str(p) for p in path)


class _Checker:
    def __init__(self, spec: dict, positions: Any) -> None:
        self.spec = spec
        self.positions = positions
        self.errors: list[SpecError] = []

    # -- reporting -----------------------------------------------------------------

    def error(self, path: Path, message: str, hint: str | None = None) -> None:
        where = None
        if self.positions is not None:
            nearest = getattr(self.positions, 'nearest', None)
            if nearest is not None:
                where = nearest(path)
            else:
                probe = tuple(path)
                while probe and where is None:
                    where = self.positions.get(probe)
                    probe = probe[:-1]
        filename, lineno, col = where or (getattr(self.positions, 'filename', '<spec>'), None, None)
        self.errors.append(SpecError(message, filename, lineno, col, hint, path=path))

    def expect(self, path: Path, value: Any, what: str, hint: str | None = None) -> None:
        self.error(path, f'{_dotted(path)} must be {what}, not {_show(value)}', hint)

    # -- primitive checks (each returns whether the value passed) -------------------

    def is_dict(self, path: Path, value: Any, none_ok: bool = False, hint: str | None = None) -> bool:
        if value is None and none_ok:
            return False
        if not isinstance(value, dict):
            self.expect(path, value, 'a dict' + (' or None' if none_ok else ''), hint)
            return False
        return True

    def typed(self, path: Path, value: Any, none_ok: bool = False, type_required: bool = True) -> bool:
        """A component config: a dict with a non-empty ``type`` string."""
        if not self.is_dict(path, value, none_ok, hint=f"e.g. {path[-1]}=dict(type='...', ...)"):
            return False
        if 'type' not in value:
            if type_required:
                self.error(path, f"{_dotted(path)} has no 'type'", hint="add type='...' naming the class")
            return True
        kind = value['type']
        if not isinstance(kind, str) or not kind:
            self.expect(path + ('type',), kind, 'a class name string')
        return True

    def integer(self, path: Path, value: Any, minimum: int | None = None, none_ok: bool = False,
                maximum: int | None = None, hint: str | None = None) -> None:
        if value is None and none_ok:
            return
        if not _is_int(value) or (minimum is not None and value < minimum) or (
                maximum is not None and value > maximum):
            if maximum is not None:
                what = f'an integer from {minimum} to {maximum}'
            else:
                what = {None: 'an integer', 0: 'an integer >= 0', 1: 'a positive integer'}.get(
                    minimum, f'an integer >= {minimum}')
            self.expect(path, value, what + (' or None' if none_ok else ''), hint)

    def number(self, path: Path, value: Any, minimum: float | None = None, positive: bool = False,
               none_ok: bool = False) -> None:
        if value is None and none_ok:
            return
        ok = _is_number(value) and (minimum is None or value >= minimum) and (not positive or value > 0)
        if not ok:
            what = 'a positive number' if positive else (
                'a number' if minimum is None else f'a number >= {minimum}')
            self.expect(path, value, what + (' or None' if none_ok else ''))

    def boolean(self, path: Path, value: Any) -> None:
        if not isinstance(value, bool):
            self.expect(path, value, 'True or False')

    def string(self, path: Path, value: Any, none_ok: bool = False) -> None:
        if value is None and none_ok:
            return
        if not isinstance(value, str):
            self.expect(path, value, 'a string' + (' or None' if none_ok else ''))

    def one_of(self, path: Path, value: Any, choices: tuple, hint_close: bool = True) -> bool:
        if value not in choices or isinstance(value, bool) and True not in choices:
            close = difflib.get_close_matches(value, [c for c in choices if isinstance(c, str)], n=1) \
                if isinstance(value, str) and hint_close else []
            hint = f'did you mean {close[0]!r}?' if close else None
            shown = ', '.join(repr(c) for c in choices)
            self.error(path, f'{_dotted(path)} must be one of {shown}, not {_show(value)}', hint)
            return False
        return True

    def list_of_typed(self, path: Path, value: Any) -> None:
        if not isinstance(value, (list, tuple)):
            self.expect(path, value, 'a list of dicts')
            return
        for index, item in enumerate(value):
            self.typed(path + (index,), item)

    # -- the spec ------------------------------------------------------------------

    def run(self, for_training: bool) -> list[SpecError]:
        spec = self.spec
        if for_training:
            for key in REQUIRED_FOR_TRAINING:
                if key not in spec:
                    self.error((), f"the spec has no '{key}'",
                               hint=f'add {key} = dict(...) or inherit it through _base_')
        for key, check in _TOP_LEVEL.items():
            if key in spec:
                check(self, (key,), spec[key])
        if for_training and isinstance(spec.get('data'), dict) and 'train' not in spec['data']:
            self.error(('data',), "data has no 'train' dataset", hint='add data = dict(train=dict(...))')
        return self.errors

    def model(self, path: Path, value: Any) -> None:
        if not self.typed(path, value):
            return
        for part in ('backbone', 'neck', 'head'):
            if part in value:
                if isinstance(value[part], (list, tuple)):
                    self.list_of_typed(path + (part,), value[part])
                else:
                    self.typed(path + (part,), value[part], none_ok=True)
        head = value.get('head')
        if isinstance(head, dict):
            if 'num_classes' in head:
                self.integer(path + ('head', 'num_classes'), head['num_classes'], 1)
            if 'loss' in head:
                self.typed(path + ('head', 'loss'), head['loss'], none_ok=True)
            if 'topk' in head:
                topk = head['topk']
                items = topk if isinstance(topk, (list, tuple)) else [topk]
                if not items or not all(_is_int(k) and k > 0 for k in items):
                    self.expect(path + ('head', 'topk'), topk, 'a positive integer or a tuple of them')
        for part in ('train_cfg', 'init_cfg'):
            if part in value and value[part] is not None and not isinstance(value[part], (dict, list)):
                self.expect(path + (part,), value[part], 'a dict, a list of dicts or None')

    def data(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value, hint='e.g. data = dict(samples_per_gpu=32, train=dict(...))'):
            return
        self.loader_args(path, value)
        for split in ('train', 'val', 'test'):
            if split in value:
                self.dataset(path + (split,), value[split])
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if loader in value and self.is_dict(path + (loader,), value[loader]):
                self.loader_args(path + (loader,), value[loader])

    def loader_args(self, path: Path, cfg: dict) -> None:
        """The loader keys of ``data`` or of one of its loaders (``train_dataloader``, ...), bounded:
        ``samples_per_gpu``, ``workers_per_gpu``, ``pin_memory``, ``persistent_workers``,
        ``prefetch_factor``, ``fuse_normalize``, ``drop_last``; a near-miss of one of them
        (``pin_memroy``) is an error rather than a key the loader silently ignores."""
        for key, low, most, hint in (
                ('samples_per_gpu', 1, MAX_SAMPLES_PER_GPU, 'a larger batch takes more GPUs (resources.num_workers)'),
                ('workers_per_gpu', 0, MAX_WORKERS_PER_GPU,
                 'each is a loader process beside the trainer; a few keep a GPU fed'),
                ('prefetch_factor', 1, MAX_PREFETCH_FACTOR,
                 'each worker holds this many batches in memory ahead of the trainer; 2 to 4 keep a GPU fed')):
            if key in cfg:
                value = cfg[key]
                self.integer(path + (key,), value, low, maximum=most, none_ok=key == 'prefetch_factor',
                             hint=hint if _is_int(value) and value > most else None)
        if cfg.get('pin_memory') is not None:
            self.boolean(path + ('pin_memory',), cfg['pin_memory'])
        for key in ('persistent_workers', 'fuse_normalize', 'drop_last'):
            if key in cfg:
                self.boolean(path + (key,), cfg[key])
        known = set(LOADER_KEYS) | {'train', 'val', 'test', 'train_dataloader', 'val_dataloader',
                                    'test_dataloader'}
        for key in cfg:
            if isinstance(key, str) and key not in known:
                close = difflib.get_close_matches(key, LOADER_KEYS, n=1, cutoff=0.8)
                if close:
                    self.error(path + (key,), f'{_dotted(path + (key,))} is not a loader key',
                               hint=f'did you mean {close[0]!r}?')

    def dataset(self, path: Path, value: Any, depth: int = 0) -> None:
        if isinstance(value, (list, tuple)):  # several datasets, concatenated
            for index, item in enumerate(value):
                self.dataset(path + (index,), item, depth + 1)
            return
        wrapper = isinstance(value, dict) and ('dataset' in value or 'datasets' in value)
        if not self.typed(path, value, type_required=not wrapper):
            return
        for key in ('data_prefix', 'ann_file'):
            if key in value:
                self.string(path + (key,), value[key], none_ok=True)
        if 'classes' in value:
            classes = value['classes']
            if not (classes is None or isinstance(classes, str) or (
                    isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes))):
                self.expect(path + ('classes',), classes, 'a list of class names, a file path or None')
        if 'test_mode' in value:
            self.boolean(path + ('test_mode',), value['test_mode'])
        if 'pipeline' in value:
            self.list_of_typed(path + ('pipeline',), value['pipeline'])
        if 'times' in value:
            self.integer(path + ('times',), value['times'], 1)
        if 'oversample_thr' in value:
            self.number(path + ('oversample_thr',), value['oversample_thr'], 0)
        if depth < 8:
            if 'dataset' in value:  # RepeatDataset, ClassBalancedDataset (manual 6.2)
                self.dataset(path + ('dataset',), value['dataset'], depth + 1)
            if 'datasets' in value:
                self.dataset(path + ('datasets',), value['datasets'], depth + 1)

    def evaluation(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value, hint="e.g. evaluation = dict(interval=1, metric='accuracy')"):
            return
        if 'interval' in value:
            self.integer(path + ('interval',), value['interval'], 1)
        if 'metric' in value:
            metric = value['metric']
            if not (isinstance(metric, str) or (isinstance(metric, (list, tuple)) and metric
                                                and all(isinstance(m, str) for m in metric))):
                self.expect(path + ('metric',), metric, 'a metric name or a list of them')
        if 'metric_options' in value:
            self.is_dict(path + ('metric_options',), value['metric_options'], none_ok=True)
        if 'save_best' in value:
            self.string(path + ('save_best',), value['save_best'], none_ok=True)
        if 'start' in value:
            self.integer(path + ('start',), value['start'], 0, none_ok=True)
        if 'by_epoch' in value:
            self.boolean(path + ('by_epoch',), value['by_epoch'])
        if 'rule' in value and value['rule'] is not None:
            self.one_of(path + ('rule',), value['rule'], ('greater', 'less'))

    def optimizer(self, path: Path, value: Any) -> None:
        if not self.typed(path, value):
            return
        if 'lr' in value:
            self.number(path + ('lr',), value['lr'], 0)
        for key in ('weight_decay', 'momentum'):
            if key in value:
                self.number(path + (key,), value[key], 0)
        if 'eps' in value:
            self.number(path + ('eps',), value['eps'], positive=True)
        if 'betas' in value:
            betas = value['betas']
            if not (isinstance(betas, (list, tuple)) and len(betas) == 2 and all(_is_number(b) for b in betas)):
                self.expect(path + ('betas',), betas, 'a pair of numbers, e.g. (0.9, 0.999)')
        if 'paramwise_cfg' in value:
            self.paramwise_cfg(path + ('paramwise_cfg',), value['paramwise_cfg'])

    def paramwise_cfg(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value, none_ok=True):
            return
        for key in ('bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult', 'dwconv_decay_mult',
                    'dcn_offset_lr_mult'):
            if key in value:
                self.number(path + (key,), value[key], 0)
        if 'bypass_duplicate' in value:
            self.boolean(path + ('bypass_duplicate',), value['bypass_duplicate'])
        if 'custom_keys' in value and self.is_dict(path + ('custom_keys',), value['custom_keys']):
            for name, options in value['custom_keys'].items():
                where = path + ('custom_keys', name)
                if self.is_dict(where, options, hint='e.g. dict(lr_mult=0.1, decay_mult=0.9)'):
                    for key in ('lr_mult', 'decay_mult'):
                        if key in options:
                            self.number(where + (key,), options[key], 0)

    def optimizer_config(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value, none_ok=True):
            return
        if 'type' in value:
            self.string(path + ('type',), value['type'])
        if 'grad_clip' in value and self.is_dict(path + ('grad_clip',), value['grad_clip'], none_ok=True,
                                                 hint='e.g. grad_clip=dict(max_norm=35, norm_type=2)'):
            clip = value['grad_clip']
            if 'max_norm' in clip:
                self.number(path + ('grad_clip', 'max_norm'), clip['max_norm'], positive=True)
            if 'norm_type' in clip:
                self.number(path + ('grad_clip', 'norm_type'), clip['norm_type'], positive=True)
        if 'cumulative_iters' in value:
            self.integer(path + ('cumulative_iters',), value['cumulative_iters'], 1)

    def _policy(self, path: Path, value: Any, policies: tuple) -> str | None:
        if 'policy' not in value:
            self.error(path, f"{_dotted(path)} has no 'policy'", hint="e.g. policy='step'")
            return None
        policy = value['policy']
        if not isinstance(policy, str):
            self.expect(path + ('policy',), policy, 'a policy name')
            return None
        name = policy.title() if policy == policy.lower() else policy  # mmcv's spelling rule
        if name not in policies:
            close = difflib.get_close_matches(name, policies, n=1)
            self.error(path + ('policy',), f'{_dotted(path)}.policy {policy!r} is not a known policy',
                       hint=f'did you mean {close[0]!r}?' if close else 'one of ' + ', '.join(policies))
            return None
        return name

    def lr_config(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value, none_ok=True, hint="e.g. lr_config = dict(policy='step', step=[30])"):
            return
        policy = self._policy(path, value, LR_POLICIES)
        for key in ('by_epoch', 'warmup_by_epoch'):
            if key in value:
                self.boolean(path + (key,), value[key])
        warmup = value.get('warmup')
        if warmup is not None:
            self.one_of(path + ('warmup',), warmup, WARMUPS)
            self.integer(path + ('warmup_iters',), value.get('warmup_iters'), 1)
            if 'warmup_ratio' in value:
                ratio = value['warmup_ratio']
                if not (_is_number(ratio) and 0 < ratio <= 1):
                    self.expect(path + ('warmup_ratio',), ratio, 'a number in (0, 1]')
        if 'step' in value:
            step = value['step']
            items = step if isinstance(step, (list, tuple)) else [step]
            if not all(_is_int(s) and s > 0 for s in items) or not items:
                self.expect(path + ('step',), step, 'a positive integer or a list of them')
        if 'gamma' in value:
            self.number(path + ('gamma',), value['gamma'], positive=True)
        for key in ('min_lr', 'min_lr_ratio'):
            if key in value:
                self.number(path + (key,), value[key], 0, none_ok=True)
        if policy in ('CosineAnnealing', 'CosineAnnealingCooldown'):
            given = [k for k in ('min_lr', 'min_lr_ratio') if value.get(k) is not None]
            if len(given) != 1:
                self.error(path, f'{_dotted(path)} with policy {policy} needs exactly one of '
                           f'min_lr and min_lr_ratio', hint='e.g. min_lr=0')

    def sampler(self, path: Path, value: Any) -> None:
        if self.typed(path, value, none_ok=True) and value is not None and isinstance(value.get('type'), str):
            self.one_of(path + ('type',), value['type'], SAMPLERS)

    def momentum_config(self, path: Path, value: Any) -> None:
        if self.is_dict(path, value, none_ok=True):
            self._policy(path, value, MOMENTUM_POLICIES)

    def runner(self, path: Path, value: Any) -> None:
        if not self.typed(path, value, type_required=False):
            return
        kind = value.get('type', 'EpochBasedRunner')
        epochs, iters = value.get('max_epochs'), value.get('max_iters')
        if epochs is not None:
            self.integer(path + ('max_epochs',), epochs, 1)
        if iters is not None:
            self.integer(path + ('max_iters',), iters, 1)
        if epochs is not None and iters is not None:
            self.error(path, f'{_dotted(path)} sets both max_epochs and max_iters',
                       hint='keep max_epochs for EpochBasedRunner, max_iters for IterBasedRunner')
        elif kind == 'EpochBasedRunner' and epochs is None:
            self.error(path, f"{_dotted(path)} has no 'max_epochs'",
                       hint="e.g. runner = dict(type='EpochBasedRunner', max_epochs=100)")
        elif kind == 'IterBasedRunner' and iters is None:
            self.error(path, f"{_dotted(path)} has no 'max_iters'",
                       hint="e.g. runner = dict(type='IterBasedRunner', max_iters=10000)")
        elif epochs is None and iters is None:
            self.error(path, f'{_dotted(path)} needs max_epochs or max_iters')

    def checkpoint_config(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value, none_ok=True, hint='e.g. checkpoint_config = dict(interval=1)'):
            return
        if 'interval' in value:
            interval = value['interval']
            if not _is_int(interval) or interval == 0 or interval < -1:
                self.expect(path + ('interval',), interval, 'a positive integer (or -1 for none)')
        if 'max_keep_ckpts' in value:
            self.integer(path + ('max_keep_ckpts',), value['max_keep_ckpts'], -1)
        for key in ('by_epoch', 'save_optimizer'):
            if key in value:
                self.boolean(path + (key,), value[key])
        if 'out_dir' in value:
            self.string(path + ('out_dir',), value['out_dir'], none_ok=True)

    def log_config(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value, hint="e.g. log_config = dict(interval=100, hooks=[dict(type='TextLoggerHook')])"):
            return
        if 'interval' in value:
            self.integer(path + ('interval',), value['interval'], 1)
        if 'hooks' in value:
            self.list_of_typed(path + ('hooks',), value['hooks'])

    def custom_hooks(self, path: Path, value: Any) -> None:
        if value is None:
            return
        self.list_of_typed(path, value)
        if not isinstance(value, (list, tuple)):
            return
        for index, hook in enumerate(value):
            if isinstance(hook, dict) and 'priority' in hook:
                priority = hook['priority']
                if _is_int(priority):
                    if not 0 <= priority <= 100:
                        self.expect(path + (index, 'priority'), priority, 'a priority from 0 to 100')
                else:
                    self.one_of(path + (index, 'priority'), priority, PRIORITIES)

    def workflow(self, path: Path, value: Any) -> None:
        hint = "e.g. workflow = [('train', 1)] or [('train', 1), ('val', 1)]"
        if not isinstance(value, (list, tuple)) or not value:
            self.expect(path, value, 'a non-empty list of (phase, epochs) pairs', hint)
            return
        for index, step in enumerate(value):
            if not (isinstance(step, (list, tuple)) and len(step) == 2 and step[0] in ('train', 'val')
                    and _is_int(step[1]) and step[1] > 0):
                self.expect(path + (index,), step, "a pair like ('train', 1)", hint)

    def path_or_none(self, path: Path, value: Any) -> None:
        self.string(path, value, none_ok=True)

    def dist_params(self, path: Path, value: Any) -> None:
        self.is_dict(path, value, hint="e.g. dist_params = dict(backend='nccl')")

    def log_level(self, path: Path, value: Any) -> None:
        self.one_of(path, value, LOG_LEVELS)

    def work_dir(self, path: Path, value: Any) -> None:
        self.string(path, value, none_ok=True)

    def fp16(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value, none_ok=True, hint='e.g. fp16 = dict(loss_scale=512.)'):
            return
        if 'loss_scale' in value:
            scale = value['loss_scale']
            if not (scale == 'dynamic' and isinstance(scale, str) or isinstance(scale, dict)
                    or (_is_number(scale) and scale > 0)):
                self.expect(path + ('loss_scale',), scale, "a positive number, 'dynamic' or a dict")

    def auto_scale_lr(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value, none_ok=True, hint='e.g. auto_scale_lr = dict(enable=True, base_batch_size=256)'):
            return
        for key in value or {}:
            if key not in ('enable', 'base_batch_size'):
                self.error(path + (key,), f'auto_scale_lr has no key {key!r}', hint='keys: enable, base_batch_size')
        if 'enable' in (value or {}):
            self.boolean(path + ('enable',), value['enable'])
        if 'base_batch_size' in (value or {}):
            self.integer(path + ('base_batch_size',), value['base_batch_size'], 1)

    def seed(self, path: Path, value: Any) -> None:
        self.integer(path, value, 0, none_ok=True)

    def gpu_ids(self, path: Path, value: Any) -> None:
        if not (isinstance(value, (list, tuple)) and all(_is_int(i) and i >= 0 for i in value)):
            self.expect(path, value, 'a list of GPU indices')

    def custom_imports(self, path: Path, value: Any) -> None:
        # The allowlist itself is enforced by the loader; here only the shape.
        if not self.is_dict(path, value, none_ok=True,
                            hint="e.g. custom_imports = dict(imports=['pkg.mod'], allow_failed_imports=False)"):
            return
        imports = value.get('imports', [])
        if not (isinstance(imports, str) or (isinstance(imports, (list, tuple))
                                             and all(isinstance(m, str) for m in imports))):
            self.expect(path + ('imports',), imports, 'a list of module names')

    def resources(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value, hint="e.g. resources = dict(num_workers=2, gpus_per_worker=1, strategy='ddp')"):
            return
        for key in value:
            if key not in RESOURCE_KEYS:
                close = difflib.get_close_matches(key, RESOURCE_KEYS, n=1)
                self.error(path + (key,), f'resources has no key {key!r}',
                           hint=f'did you mean {close[0]!r}?' if close else 'keys: ' + ', '.join(RESOURCE_KEYS))
        if 'num_workers' in value:
            self.integer(path + ('num_workers',), value['num_workers'], 1)
        if 'cpus_per_worker' in value:
            self.number(path + ('cpus_per_worker',), value['cpus_per_worker'], positive=True)
        if 'gpus_per_worker' in value:
            self.number(path + ('gpus_per_worker',), value['gpus_per_worker'], 0)
        if 'max_failures' in value:
            # -1 (MMCls/Ray's "retry for ever") is refused: a run that keeps dying holds its slot for ever
            self.integer(path + ('max_failures',), value['max_failures'], 0,
                         hint='retries of a run whose job died; -1 (for ever) is not allowed')
        strategy = value.get('strategy', 'ddp')
        if 'strategy' in value:
            self.one_of(path + ('strategy',), strategy, STRATEGIES)
        if 'deepspeed' in value:
            deepspeed = value['deepspeed']
            if strategy != 'deepspeed' and deepspeed is not None:
                self.error(path + ('deepspeed',), "resources.deepspeed is set but resources.strategy is not 'deepspeed'",
                           hint="add strategy='deepspeed', or remove the deepspeed settings")
            if self.is_dict(path + ('deepspeed',), deepspeed, none_ok=True,
                            hint='e.g. dict(zero_stage=2, offload_optimizer=False, bf16=False)'):
                for key, item in (deepspeed or {}).items():
                    where = path + ('deepspeed', key)
                    if key not in DEEPSPEED_KEYS:
                        close = difflib.get_close_matches(key, DEEPSPEED_KEYS, n=1)
                        self.error(where, f'resources.deepspeed has no key {key!r}',
                                   hint=f'did you mean {close[0]!r}?' if close else 'keys: ' + ', '.join(DEEPSPEED_KEYS))
                    elif key == 'zero_stage' and not (_is_int(item) and 0 <= item <= 3):
                        self.expect(where, item, '0, 1, 2 or 3')
                    elif key in ('offload_optimizer', 'bf16', 'fp16') and not isinstance(item, bool):
                        self.expect(where, item, 'True or False')
                    elif key == 'config':
                        self.is_dict(where, item, none_ok=True, hint="any key of DeepSpeed's config JSON")

    def sweep(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value, hint="e.g. sweep = dict(space={...}, metric='accuracy_top-1', mode='max')"):
            return
        for key in value:
            if key not in SWEEP_KEYS:
                close = difflib.get_close_matches(key, SWEEP_KEYS, n=1)
                self.error(path + (key,), f'sweep has no key {key!r}',
                           hint=f'did you mean {close[0]!r}?' if close else 'keys: ' + ', '.join(SWEEP_KEYS))
        for key in ('space', 'metric', 'mode'):
            if key not in value:
                self.error(path, f"sweep has no '{key}'",
                           hint="e.g. sweep = dict(space={'optimizer.lr': dict(type='loguniform', "
                           "lower=1e-4, upper=1e-1)}, metric='accuracy_top-1', mode='max')")
        if 'space' in value:
            self.space(path + ('space',), value['space'])
        if 'metric' in value:
            metric = value['metric']
            if not isinstance(metric, str) or not metric:
                self.expect(path + ('metric',), metric, "a metric name, e.g. 'accuracy_top-1'")
        if 'mode' in value:
            self.one_of(path + ('mode',), value['mode'], ('max', 'min'))
        if 'num_samples' in value:
            self.integer(path + ('num_samples',), value['num_samples'], 1)
        if 'max_concurrent_trials' in value:
            self.integer(path + ('max_concurrent_trials',), value['max_concurrent_trials'], 1, none_ok=True)
        for key in ('search_alg', 'scheduler'):
            if key in value:
                option = value[key]
                if isinstance(option, dict):
                    self.typed(path + (key,), option)
                elif option is not None and not isinstance(option, str):
                    self.expect(path + (key,), option, "a name, dict(type='...', ...) or None")

    def space(self, path: Path, value: Any) -> None:
        if not self.is_dict(path, value) or not value:
            if isinstance(value, dict):
                self.error(path, 'sweep.space is empty', hint='add at least one dotted key to search over')
            return
        for key, domain in value.items():
            where = path + (key,)
            self.space_key(where, key)
            if not self.is_dict(where, domain, hint="e.g. dict(type='choice', values=[...])"):
                continue
            kind = domain.get('type')
            if kind not in DOMAINS:
                close = difflib.get_close_matches(kind, list(DOMAINS), n=1) if isinstance(kind, str) else []
                self.error(where + ('type',), f'search domain {kind!r} of sweep.space[{key!r}] is not known',
                           hint=f'did you mean {close[0]!r}?' if close else 'one of ' + ', '.join(DOMAINS))
                continue
            missing = [p for p in DOMAINS[kind] if p not in domain]
            if missing:
                self.error(where, f"search domain {kind!r} of sweep.space[{key!r}] needs {', '.join(missing)}")
                continue
            self.domain(where, kind, domain)

    def domain(self, where: Path, kind: str, domain: dict) -> None:
        if kind in ('choice', 'grid_search'):
            values = domain['values']
            if not isinstance(values, (list, tuple)) or not values:
                self.expect(where + ('values',), values, 'a non-empty list')
            return
        if kind in ('randn', 'qrandn'):
            self.number(where + ('mean',), domain['mean'])
            self.number(where + ('sd',), domain['sd'], positive=True)
        else:
            integer = 'randint' in kind
            lower, upper = domain['lower'], domain['upper']
            check = _is_int if integer else _is_number
            what = 'an integer' if integer else 'a number'
            if not check(lower):
                self.expect(where + ('lower',), lower, what)
            elif not check(upper):
                self.expect(where + ('upper',), upper, what)
            elif lower >= upper:
                self.error(where, f'{_dotted(where)}: lower ({lower}) must be below upper ({upper})')
            elif kind.startswith(('log', 'qlog')) and lower <= 0:
                self.expect(where + ('lower',), lower, 'a positive number (the domain is logarithmic)')
        if 'q' in domain:
            self.number(where + ('q',), domain['q'], positive=True)

    def space_key(self, where: Path, key: str) -> None:
        parts = key.split('.')
        if not key or any(not p for p in parts):
            self.error(where, f'sweep.space key {key!r} is not a dotted key', hint="e.g. 'optimizer.lr'")
            return
        if parts[0] == 'sweep':
            self.error(where, f'sweep.space key {key!r} cannot change the sweep itself')
            return
        node: Any = self.spec
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                prefix = '.'.join(parts[:depth + 1])
                close = difflib.get_close_matches(part, list(node), n=1) if isinstance(node, dict) else []
                self.error(where, f"sweep.space key {key!r}: the spec has no {prefix!r}",
                           hint=f'did you mean {close[0]!r}?' if close else None)
                return
        if not isinstance(node, (dict, list, tuple)):
            self.error(where, f"sweep.space key {key!r}: {'.'.join(parts[:-1])!r} is not a dict or list")


_TOP_LEVEL = {
    'model': _Checker.model,
    'data': _Checker.data,
    'evaluation': _Checker.evaluation,
    'optimizer': _Checker.optimizer,
    'optimizer_config': _Checker.optimizer_config,
    'lr_config': _Checker.lr_config,
    'momentum_config': _Checker.momentum_config,
    'sampler': _Checker.sampler,
    'runner': _Checker.runner,
    'checkpoint_config': _Checker.checkpoint_config,
    'log_config': _Checker.log_config,
    'custom_hooks': _Checker.custom_hooks,
    'workflow': _Checker.workflow,
    'load_from': _Checker.path_or_none,
    'resume_from': _Checker.path_or_none,
    'load_from_partial': _Checker.boolean,  # load_from may leave weights unloaded (workers.models.init)
    'dist_params': _Checker.dist_params,
    'log_level': _Checker.log_level,
    'work_dir': _Checker.work_dir,
    'fp16': _Checker.fp16,
    'paramwise_cfg': _Checker.paramwise_cfg,
    'custom_imports': _Checker.custom_imports,
    'seed': _Checker.seed,
    'auto_scale_lr': _Checker.auto_scale_lr,
    'gpu_ids': _Checker.gpu_ids,
    'resources': _Checker.resources,
    'sweep': _Checker.sweep,
}
KNOWN_KEYS = tuple(_TOP_LEVEL)


def validate(spec: Any, positions: Any = None, *, for_training: bool = True) -> list[SpecError]:
    """Check the shape and types of a resolved spec's well-known keys.

    Args:
        spec: A resolved spec from `load`/`load_text`.
        positions: The `Positions` from ``load(..., positions=True)``; with it every
            error points at the line that wrote the value.
        for_training: Also require what a training run needs (``model``, ``data``
            with ``train``, ``optimizer``, ``runner``).

    Returns:
        The problems found, in spec order; empty when the spec is valid. Each is a
        SpecError ready to raise or show.
    """
    if not isinstance(spec, dict):
        return [SpecError(f'a spec must be a dict, not {type(spec).__name__}')]
    try:
        return _Checker(spec, positions).run(for_training)
    except RecursionError:
        return [SpecError('the spec is nested too deeply to validate')]
