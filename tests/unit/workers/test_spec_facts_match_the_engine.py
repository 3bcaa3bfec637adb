"""What the service learns of a spec before any worker starts (``jobspecs.contract.spec_facts``) is what the
engine then does: the val metrics an evaluation reports (names and order), the metric "best" compares and
its direction, and the run's length."""
from __future__ import annotations

import numpy as np
import pytest

import jobspecs
from jobspecs.contract import spec_facts
from tests.support.reporters import ListReporter
from tests.support.specs import tiny_spec
from workers.engine import train
from workers.engine.assembly import runner_length
from workers.engine.sections import EvalSettings
from workers.evaluation import MULTILABEL_METRICS, evaluate_classification, evaluate_multilabel

LIBRARY_SPECS = ["demo/resnet18-tiny_2xb32-6e_digits.py", "lenet/lenet5_mnist.py",
                 "csra/resnet101-csra_1xb16_voc07-448px.py", "vision_transformer/vit-base-p16_ft-4xb544-ipu_in1k.py",
                 "swin_transformer/swin-tiny_16xb64_in1k.py"]


def _engine_metrics(evaluation: dict) -> dict:
    """One evaluation of random scores with the spec's evaluation section, as the engine runs it."""
    settings = EvalSettings.from_cfg(evaluation)
    rng = np.random.default_rng(0)
    metrics = [settings.metric] if isinstance(settings.metric, str) else list(settings.metric)
    if all(m in MULTILABEL_METRICS for m in metrics):
        labels = rng.integers(0, 2, size=(20, 6))
        return evaluate_multilabel(rng.random((20, 6)), labels, settings.metric, settings.metric_options)
    return evaluate_classification(rng.random((20, 10)), rng.integers(0, 10, 20), settings.metric,
                                   settings.metric_options)


@pytest.mark.parametrize("name", LIBRARY_SPECS)
def test_the_facts_of_a_library_spec_are_what_the_engine_does(name):
    spec = jobspecs.load_library(name)
    facts = spec_facts(spec)
    metrics = _engine_metrics(spec["evaluation"])
    assert facts.metric_names == tuple(metrics)
    assert facts.primary_metric == next(iter(metrics))  # save_best 'auto' / None: the engine's first key
    settings = EvalSettings.from_cfg(spec["evaluation"])
    assert (facts.primary_mode == "max") is settings.greater_is_better(facts.primary_metric)
    assert (facts.unit, facts.length) == runner_length(spec)


@pytest.mark.parametrize("evaluation", [
    {"metric": ["f1_score", "accuracy", "support", "recall"], "metric_options": {"topk": [1, 2]}},
    {"metric": "accuracy", "metric_options": {"topk": 1, "thrs": [0.3, 0.6]}},
    {"metric": ["precision", "accuracy"], "metric_options": {"topk": (1, 3), "thrs": (0.5,)}},
    {"metric": ["CF1", "mAP", "OP"]},
])
def test_metric_names_follow_the_engine_for_any_evaluation_section(evaluation):
    spec = {**jobspecs.load_library("demo/resnet18-tiny_2xb32-6e_digits.py"), "evaluation": evaluation}
    assert spec_facts(spec).metric_names == tuple(_engine_metrics(evaluation))


def test_a_real_training_reports_the_val_metrics_its_facts_name(tiny_root, tmp_path):
    evaluation = {"interval": 1, "metric": ["precision", "accuracy", "support"], "metric_options": {"topk": (1, 2)},
                  "save_best": "auto"}
    spec = tiny_spec(max_epochs=1, evaluation=evaluation)
    facts = spec_facts(spec)
    reporter = ListReporter()

    best = train(spec, tmp_path, data_root=tiny_root, seed=0, reporter=reporter, console=False)

    val = [values for _, values, _, mode in reporter.points if mode == "val"]
    assert len(val) == facts.evaluations == 1
    assert tuple(val[0]) == facts.metric_names == ("accuracy_top-1", "accuracy_top-2", "support", "precision")
    assert best[facts.primary_metric] == val[0]["accuracy_top-1"]
    assert any(p.name.startswith(f"best_{facts.primary_metric}_epoch_1") for p in tmp_path.glob("*.pth"))
