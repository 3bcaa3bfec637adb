"""``optimizer.constructor``: a constructor registered in ``OPTIMIZER_BUILDERS`` builds the optimizer, as mmcv
1.x's ``build_optimizer`` does (seed 9.6.2); the default constructor keeps its ``paramwise_cfg`` rules."""

from __future__ import annotations

from tests.support.specs import tiny_spec
from workers.engine import build_optimizer, train
from workers.engine.checkpoint import load_checkpoint
from workers.models import build_model
from workers.registry import OPTIMIZER_BUILDERS, OPTIMIZERS, check_spec_types

MODEL = {"type": "ImageClassifier",
         "backbone": {"type": "ResNet_CIFAR", "depth": 18, "stem_channels": 8, "base_channels": 8},
         "neck": {"type": "GlobalAveragePooling"},
         "head": {"type": "LinearClsHead", "num_classes": 3, "in_channels": 64}}


@OPTIMIZER_BUILDERS.register("HeadOnlyOptimizerConstructor", force=True)
class HeadOnlyOptimizerConstructor:
    """Trains the head alone, at ``paramwise_cfg['head_lr_mult']`` times the lr (a constructor of the seed's
    shape: ``(optimizer_cfg, paramwise_cfg)``, then called with the model)."""

    def __init__(self, optimizer_cfg, paramwise_cfg=None):
        self.optimizer_cfg = dict(optimizer_cfg)
        self.mult = (paramwise_cfg or {}).get("head_lr_mult", 1.0)

    def __call__(self, model):
        cfg = dict(self.optimizer_cfg)
        optimizer_cls = OPTIMIZERS.get(cfg.pop("type"))
        return optimizer_cls([{"params": model.head.parameters(), "lr": cfg["lr"] * self.mult}], **cfg)


def test_it_builds_the_optimizer_with_the_named_constructor_and_its_paramwise_cfg():
    model = build_model(MODEL)
    optimizer = build_optimizer(model, {"type": "SGD", "lr": 0.1, "constructor": "HeadOnlyOptimizerConstructor",
                                        "paramwise_cfg": {"head_lr_mult": 0.5}})
    assert [group["lr"] for group in optimizer.param_groups] == [0.05]
    assert {id(p) for p in optimizer.param_groups[0]["params"]} == {id(p) for p in model.head.parameters()}


def test_the_default_constructor_keeps_the_paramwise_rules():
    model = build_model(MODEL)
    cfg = {"type": "SGD", "lr": 0.1, "weight_decay": 1e-4, "paramwise_cfg": {"norm_decay_mult": 0.0}}
    named = build_optimizer(model, cfg | {"constructor": "DefaultOptimizerConstructor"})
    plain = build_optimizer(model, cfg)
    decays = [group["weight_decay"] for group in plain.param_groups]
    assert [group["weight_decay"] for group in named.param_groups] == decays
    assert 0.0 in decays and 1e-4 in decays
    assert len(build_optimizer(model, {"type": "SGD", "lr": 0.1}).param_groups) == 1


def test_an_unknown_constructor_is_refused_at_submit_time_with_close_names():
    spec = tiny_spec(optimizer={"type": "SGD", "lr": 0.1, "constructor": "HeadOnlyOptimizerConstructr"})
    assert [issue.message for issue in check_spec_types(spec)] == [
        "optimizer.constructor: unknown optimizer constructor type 'HeadOnlyOptimizerConstructr'. "
        "Did you mean: HeadOnlyOptimizerConstructor, DefaultOptimizerConstructor?"]


def test_a_run_trains_with_the_constructor_its_spec_names(tmp_path, tiny_root):
    optimizer = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "constructor": "HeadOnlyOptimizerConstructor",
                 "paramwise_cfg": {"head_lr_mult": 0.5}}
    train(tiny_spec(max_epochs=1, optimizer=optimizer, lr_config=None), tmp_path / "run", data_root=tiny_root,
          validate=False, console=False)
    saved = load_checkpoint(tmp_path / "run" / "epoch_1.pth")["optimizer"]
    # one group holding the head's weight and bias, at half the lr: the constructor's optimizer was trained
    assert [(len(group["params"]), group["lr"]) for group in saved["param_groups"]] == [(2, 0.05)]
