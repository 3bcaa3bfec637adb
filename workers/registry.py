"""Flat registries that map the ``type=`` names of a jobspec to classes, and the submit-time type check.

A registry is a plain dict behind a decorator, as timm's ``_registry.py`` does it: no scopes, no build
magic. ``Registry.get`` fails with the close names ("did you mean"), and :func:`check_spec_types` walks a
resolved spec and reports every ``type=`` name that no registry knows, so the backend can reject a spec
when it is submitted instead of on a remote worker.

Importing this module alone gives empty registries; :func:`ensure_registered` imports the packages that
fill them (models, data, engine), which ``check_spec_types`` does itself.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACTIVATIONS",
    "BATCH_AUGMENTS",
    "CONV_LAYERS",
    "DATASETS",
    "HOOKS",
    "INITIALIZERS",
    "LR_SCHEDULES",
    "MODELS",
    "MOMENTUM_SCHEDULES",
    "NORM_LAYERS",
    "OPTIMIZERS",
    "OPTIMIZER_BUILDERS",
    "RUNNERS",
    "TRANSFORMS",
    "Registry",
    "TypeIssue",
    "UnknownTypeError",
    "check_spec_types",
    "ensure_registered",
]


class UnknownTypeError(KeyError):
    """A ``type=`` name that a registry does not hold. ``str()`` is the plain message (KeyError quotes it)."""

    def __init__(self, message: str, name: str, suggestions: list[str]):
        super().__init__(message)
        self.message = message
        self.name = name
        self.suggestions = suggestions

    def __str__(self) -> str:
        return self.message


class Registry:
    """A named, flat mapping from ``type=`` names to classes or functions.

    Args:
        kind: What the registry holds, in words ("model", "transform"); used in error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}
        self._lazy: dict[str, str] = {}  # name -> "module:attribute", imported on first use (add_lazy)

    def register(self, name: str | None = None, *, force: bool = False) -> Callable[[Any], Any]:
        """Decorator that registers a class or function under ``name`` (default: its ``__name__``).

        Args:
            name: The ``type=`` name specs use.
            force: Replace an existing entry instead of raising.
        """

        def decorator(obj: Any) -> Any:
            self.add(name or obj.__name__, obj, force=force)
            return obj

        return decorator

    def add(self, name: str, obj: Any, *, force: bool = False) -> None:
        """Register ``obj`` under ``name`` without a decorator."""
        if not force and name in self._entries and self._entries[name] is not obj:
            raise KeyError(f"{self.kind} type {name!r} is already registered")
        lazy = self._lazy.get(name)
        if not force and lazy is not None and getattr(obj, "__module__", None) != lazy.partition(":")[0]:
            raise KeyError(f"{self.kind} type {name!r} is already registered (by {lazy.partition(':')[0]})")
        self._lazy.pop(name, None)  # the module named by add_lazy, registering its own entry
        self._entries[name] = obj

    def add_lazy(self, name: str, target: str) -> None:
        """Register ``name`` as ``"module:attribute"``, imported on first :meth:`get`: a backbone family (and the
        timm or torchvision modules it builds on) loads only in a process that builds it. The name is listed,
        suggested and type-checked like any other."""
        if name not in self._entries:
            self._lazy[name] = target

    def _resolve(self, name: str) -> Any:
        module, _, attribute = self._lazy[name].partition(":")
        imported = importlib.import_module(module)  # which usually registers the name itself
        if name not in self._entries:
            self._entries[name] = getattr(imported, attribute or name)
        self._lazy.pop(name, None)
        return self._entries[name]

    def _names(self) -> list[str]:
        return [*self._entries, *(k for k in self._lazy if k not in self._entries)]

    def get(self, name: str) -> Any:
        """Return the entry for ``name``.

        Raises:
            UnknownTypeError: (a ``KeyError``) whose message lists close names.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            pass
        if isinstance(name, str) and name in self._lazy:
            return self._resolve(name)
        suggestions = self.suggest(name)
        message = f"Unknown {self.kind} type {name!r}."
        if suggestions:
            message += f" Did you mean: {', '.join(suggestions)}?"
        raise UnknownTypeError(message, name, suggestions) from None

    def build(self, cfg: dict, **default_args: Any) -> Any:
        """Instantiate ``cfg['type']`` with the other keys of ``cfg`` (and ``default_args`` not in it).

        Args:
            cfg: A config dict with a ``type`` key; it is not modified.
            **default_args: Keyword arguments used where ``cfg`` does not set them.
        """
        if not isinstance(cfg, dict) or "type" not in cfg:
            raise TypeError(f"a {self.kind} config must be a dict with a 'type' key, got {cfg!r}")
        kwargs = dict(cfg)
        obj = self.get(kwargs.pop("type"))
        for key, value in default_args.items():
            kwargs.setdefault(key, value)
        return obj(**kwargs)

    def suggest(self, name: str, n: int = 5) -> list[str]:
        """Registered names close to ``name``: same name in another case first, then difflib's ranking."""
        names = self._names()
        lowered = {k.lower(): k for k in names}
        found: list[str] = []
        if str(name).lower() in lowered:
            found.append(lowered[str(name).lower()])
        cutoff = 0.6 if len(str(name)) > 3 else 0.5  # 'BM' is one letter from 'BN' but only 50% alike
        for match in difflib.get_close_matches(str(name).lower(), list(lowered), n=n, cutoff=cutoff):
            if lowered[match] not in found:
                found.append(lowered[match])
        return found[:n]

    def list(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching an fnmatch ``pattern`` (case-insensitive), e.g. ``'ResNet*'``."""
        pattern = pattern.lower()
        return sorted(k for k in self._names() if fnmatch.fnmatchcase(k.lower(), pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names()))

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


# Classifiers, backbones, necks, heads and losses share one flat namespace, as MMCls' names never collide.
MODELS = Registry("model")
DATASETS = Registry("dataset")
TRANSFORMS = Registry("transform")
HOOKS = Registry("hook")
OPTIMIZERS = Registry("optimizer")
# mmcv 1.x's OPTIMIZER_BUILDERS: ``optimizer.constructor`` names one (seed 9.6.2, "Customize optimizer constructor")
OPTIMIZER_BUILDERS = Registry("optimizer constructor")
LR_SCHEDULES = Registry("lr schedule")
MOMENTUM_SCHEDULES = Registry("momentum schedule")
NORM_LAYERS = Registry("norm layer")
CONV_LAYERS = Registry("conv layer")
ACTIVATIONS = Registry("activation")
INITIALIZERS = Registry("initializer")
BATCH_AUGMENTS = Registry("batch augment")
RUNNERS = Registry("runner")

_FILLING_MODULES = ("workers.models", "workers.data", "workers.engine")


def ensure_registered() -> None:
    """Import the packages whose modules fill the registries (idempotent)."""
    for module in _FILLING_MODULES:
        importlib.import_module(module)


def normalize_policy(policy: str) -> str:
    """mmcv's rule for ``lr_config.policy``: an all-lower-case name is title-cased ('step' -> 'Step')."""
    return policy.title() if policy == policy.lower() else policy


@dataclass
class TypeIssue:
    """One ``type=`` name in a spec that no registry knows.

    Attributes:
        path: Keys and list indices leading to the name, e.g. ``('model', 'backbone', 'type')``.
        name: The unknown name as written.
        kind: The registry's kind ("model", "transform", ...).
        suggestions: Close registered names, best first.
    """

    path: tuple
    name: str
    kind: str
    suggestions: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        where = ".".join(str(p) for p in self.path)
        text = f"{where}: unknown {self.kind} type {self.name!r}."
        if self.suggestions:
            text += f" Did you mean: {', '.join(self.suggestions)}?"
        return text


# Inside the model tree these keys hold configs of other registries than MODELS.
_MODEL_SUBKEY_REGISTRIES = {
    "norm_cfg": NORM_LAYERS,
    "conv_cfg": CONV_LAYERS,
    "act_cfg": ACTIVATIONS,
    "init_cfg": INITIALIZERS,
    "augments": BATCH_AUGMENTS,
}


def _check(registry: Registry, name: Any, path: tuple, issues: list[TypeIssue]) -> None:
    if not isinstance(name, str):
        issues.append(TypeIssue(path, repr(name), registry.kind, []))
    elif name not in registry:
        issues.append(TypeIssue(path, name, registry.kind, registry.suggest(name)))


def _walk_model(node: Any, path: tuple, registry: Registry, issues: list[TypeIssue]) -> None:
    if isinstance(node, dict):
        if "type" in node:
            _check(registry, node["type"], path + ("type",), issues)
        for key, value in node.items():
            if key == "type":
                continue
            _walk_model(value, path + (key,), _MODEL_SUBKEY_REGISTRIES.get(key, registry), issues)
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            _walk_model(item, path + (i,), registry, issues)


def _walk_pipeline(steps: Any, path: tuple, issues: list[TypeIssue]) -> None:
    """Transform names of a pipeline, including the operations inside AutoAugment/RandAugment
    ``policies`` (AutoAugment: a list of lists of op configs; RandAugment: a list of op configs)."""
    for i, step in enumerate(steps or []):
        if not isinstance(step, dict):
            continue
        _check(TRANSFORMS, step.get("type"), path + (i, "type"), issues)
        policies = step.get("policies")
        if step.get("type") not in ("AutoAugment", "RandAugment") or not isinstance(policies, (list, tuple)):
            continue
        for j, policy in enumerate(policies):
            ops = policy if isinstance(policy, (list, tuple)) else [policy]
            for k, op in enumerate(ops):
                if isinstance(op, dict):
                    where = (j, k) if isinstance(policy, (list, tuple)) else (j,)
                    _check(TRANSFORMS, op.get("type"), path + (i, "policies", *where, "type"), issues)


def _walk_dataset(node: Any, path: tuple, issues: list[TypeIssue]) -> None:
    if isinstance(node, (list, tuple)):  # a list of datasets is concatenated
        for i, item in enumerate(node):
            _walk_dataset(item, path + (i,), issues)
        return
    if not isinstance(node, dict):
        return
    if "type" in node:
        _check(DATASETS, node["type"], path + ("type",), issues)
    _walk_pipeline(node.get("pipeline"), path + ("pipeline",), issues)
    for key in ("dataset", "datasets"):  # wrappers (RepeatDataset, ConcatDataset, ...)
        if key in node:
            _walk_dataset(node[key], path + (key,), issues)


def check_spec_types(spec: dict) -> list[TypeIssue]:
    """Report every ``type=`` name of a resolved spec that the engine would build and no registry knows.

    Only the keys the engine builds are checked: the model tree, ``data.{train,val,test}`` with their
    pipelines, ``optimizer``, ``optimizer_config``, ``lr_config.policy``, ``momentum_config.policy``,
    ``runner``, ``log_config.hooks`` and ``custom_hooks``; intermediate variables are ignored.

    Args:
        spec: The resolved spec (plain dicts and lists), as ``jobspecs.load`` returns it.

    Returns:
        The issues in spec order; empty when every name is known.
    """
    ensure_registered()
    issues: list[TypeIssue] = []
    if isinstance(spec.get("model"), dict):
        _walk_model(spec["model"], ("model",), MODELS, issues)
    data = spec.get("data") or {}
    for split in ("train", "val", "test"):
        if split in data:
            _walk_dataset(data[split], ("data", split), issues)
    optimizer = spec.get("optimizer")
    if isinstance(optimizer, dict) and "type" in optimizer:
        _check(OPTIMIZERS, optimizer["type"], ("optimizer", "type"), issues)
    if isinstance(optimizer, dict) and optimizer.get("constructor") is not None:
        _check(OPTIMIZER_BUILDERS, optimizer["constructor"], ("optimizer", "constructor"), issues)
    optimizer_config = spec.get("optimizer_config")
    if isinstance(optimizer_config, dict) and "type" in optimizer_config:
        _check(HOOKS, optimizer_config["type"], ("optimizer_config", "type"), issues)
    for key, registry in (("lr_config", LR_SCHEDULES), ("momentum_config", MOMENTUM_SCHEDULES)):
        schedule = spec.get(key)
        if isinstance(schedule, dict) and "policy" in schedule:
            policy = schedule["policy"]
            name = normalize_policy(policy) if isinstance(policy, str) else policy
            issues_before = len(issues)
            _check(registry, name, (key, "policy"), issues)
            if len(issues) > issues_before:
                issues[-1].name = policy
    runner = spec.get("runner")
    if isinstance(runner, dict) and "type" in runner:
        _check(RUNNERS, runner["type"], ("runner", "type"), issues)
    log_hooks = (spec.get("log_config") or {}).get("hooks") or []
    for i, hook in enumerate(log_hooks):
        if isinstance(hook, dict):
            _check(HOOKS, hook.get("type"), ("log_config", "hooks", i, "type"), issues)
    for i, hook in enumerate(spec.get("custom_hooks") or []):
        if isinstance(hook, dict):
            _check(HOOKS, hook.get("type"), ("custom_hooks", i, "type"), issues)
    return issues
