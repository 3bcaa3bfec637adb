"""The effective batch and auto_scale_lr: the arithmetic, the engine applying it, the schema checking it."""
import pytest

import jobspecs
from jobspecs.batch import apply_auto_scale_lr, batch_facts

SPEC = "demo/resnet18-tiny_2xb32-6e_digits.py"


def test_it_counts_per_worker_samples_times_workers_times_accumulation():
    spec = jobspecs.load_library(SPEC, cfg_options={"optimizer_config": {"type": "GradientCumulativeOptimizerHook",
                                                                         "cumulative_iters": 2}})
    facts = batch_facts(spec)
    assert (facts.samples_per_gpu, facts.num_workers, facts.cumulative_iters) == (32, 2, 2)
    assert facts.effective_batch == 128 and facts.scaled_lr is None
    assert batch_facts(spec, num_workers=4).effective_batch == 256


def test_it_scales_the_lr_linearly_when_asked_and_says_so():
    spec = jobspecs.load_library(SPEC, cfg_options={"auto_scale_lr": {"enable": True, "base_batch_size": 256}})
    line = apply_auto_scale_lr(spec, world_size=2)
    assert spec["optimizer"]["lr"] == pytest.approx(0.1 * 64 / 256)
    assert line.startswith("LR is set based on batch size of 256 and the current batch size is 64.")
    off = jobspecs.load_library(SPEC)
    assert apply_auto_scale_lr(off, world_size=2) is None and off["optimizer"]["lr"] == 0.1


def test_it_logs_the_scaled_lr_when_training(tmp_path):
    from workers.data.demo import write_digits_dataset
    from workers.engine import train

    data = tmp_path / "digits"
    write_digits_dataset(data)
    spec = jobspecs.load_library(SPEC, cfg_options={
        "auto_scale_lr": {"enable": True, "base_batch_size": 128}, "runner.max_epochs": 1,
        "data.train.data_prefix": str(data / "train"), "data.val.data_prefix": str(data / "val"),
        "evaluation.interval": 5, "checkpoint_config.interval": 5})
    train(spec, tmp_path / "work", console=False, seed=0)
    log = next((tmp_path / "work").glob("*.log")).read_text()
    assert "current batch size is 32. Scaling the original LR by 0.25 (0.1 -> 0.025)" in log


@pytest.mark.parametrize("value, message", [
    ({"enable": "yes"}, "auto_scale_lr.enable must be True or False, not 'yes'"),
    ({"enable": True, "base_batch_size": 0}, "a positive integer"),
    ({"enabled": True}, "auto_scale_lr has no key 'enabled'"),
])
def test_it_checks_the_auto_scale_lr_section(value, message):
    spec = jobspecs.load_library(SPEC, cfg_options={"auto_scale_lr": value})
    errors = [str(e) for e in jobspecs.validate(spec)]
    assert any(message in e for e in errors), errors
