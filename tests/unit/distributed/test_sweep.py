"""The sweep driver's pure parts: the search space, the trial's spec, schedulers and search algorithms."""
from pathlib import Path

import pytest
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler, PopulationBasedTraining
from ray.tune.search.hyperopt import HyperOptSearch
from ray.tune.search.optuna import OptunaSearch

import jobspecs
from workers.distributed import sweep as sw

SPACE = {"optimizer.lr": {"type": "loguniform", "lower": 1e-4, "upper": 1e-1},
         "model.head.loss.label_smooth_val": {"type": "choice", "values": [0.0, 0.1]}}


def _cfg(**kw):
    return sw.normalise({"space": SPACE, "metric": "accuracy_top-1", "mode": "max", **kw})


def test_it_fills_in_defaults():
    cfg = _cfg()
    assert cfg["search_alg"] == "random" and cfg["scheduler"] == "fifo" and cfg["num_samples"] == 4


def test_it_counts_trials_of_a_grid_times_samples():
    space = {"optimizer.lr": {"type": "grid_search", "values": [0.1, 0.01, 0.001]},
             "optimizer.momentum": {"type": "choice", "values": [0.8, 0.9]}}
    cfg = sw.normalise({"space": space, "metric": "accuracy_top-1", "mode": "max", "search_alg": "grid",
                        "num_samples": 2})
    assert sw.num_trials(cfg) == 2 * 3 * 2
    domains = sw.param_space(cfg)
    assert domains["optimizer.momentum"] == tune.grid_search([0.8, 0.9])  # choice enumerated by a grid search


@pytest.mark.parametrize("kw, message", [
    ({"search_alg": "grid"}, "a grid search needs values to enumerate; 'optimizer.lr' is 'loguniform'"),
    ({"search_alg": "bayes"}, "sweep.search_alg 'bayes' is not supported"),
    ({"scheduler": "median"}, "sweep.scheduler 'median' is not supported"),
    ({"scheduler": "pbt", "search_alg": "optuna"}, "scheduler 'pbt' mutates the population itself"),
])
def test_it_refuses_parts_that_do_not_fit(kw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _cfg(**kw)


def test_it_refuses_grid_search_domains_with_a_model_based_searcher():
    space = {"optimizer.lr": {"type": "grid_search", "values": [0.1, 0.01]}}
    with pytest.raises(ValueError, match="cannot take grid_search"):
        sw.normalise({"space": space, "metric": "m", "mode": "max", "search_alg": "optuna"})


def test_it_sets_dotted_keys_in_a_copy_of_the_spec_without_its_sweep():
    spec = jobspecs.load_library("demo/resnet18-tiny_asha-sweep_digits.py")
    trial = sw.apply_params(spec, {"optimizer.lr": 0.02, "model.head.loss.label_smooth_val": 0.0,
                                   "data.train.pipeline.2.padding": 4})
    assert trial["optimizer"]["lr"] == 0.02 and trial["model"]["head"]["loss"]["label_smooth_val"] == 0.0
    assert trial["data"]["train"]["pipeline"][2]["padding"] == 4
    assert "sweep" not in trial and spec["optimizer"]["lr"] == 0.1  # the base is untouched


@pytest.mark.parametrize("domain, check", [
    ({"type": "uniform", "lower": 0.0, "upper": 1.0}, lambda v: 0.0 <= v <= 1.0),
    ({"type": "loguniform", "lower": 1e-4, "upper": 1e-1}, lambda v: 1e-4 <= v <= 1e-1),
    ({"type": "randint", "lower": 2, "upper": 5}, lambda v: v in (2, 3, 4)),
    ({"type": "qrandint", "lower": 0, "upper": 20, "q": 5}, lambda v: v % 5 == 0),
    ({"type": "choice", "values": ["a", "b"]}, lambda v: v in ("a", "b")),
    ({"type": "randn", "mean": 0.0, "sd": 1.0}, lambda v: isinstance(v, float)),
])
def test_it_maps_each_domain_to_ray_tune(domain, check):
    sampled = [sw.tune_domain(domain).sample() for _ in range(20)]
    assert all(check(v) for v in sampled), sampled


def test_it_builds_the_named_searchers_and_schedulers():
    assert sw.build_search_alg(_cfg()) is None
    assert isinstance(sw.build_search_alg(_cfg(search_alg="optuna")), OptunaSearch)
    assert isinstance(sw.build_search_alg(_cfg(search_alg="hyperopt")), HyperOptSearch)
    assert isinstance(sw.build_scheduler(_cfg(), 6), FIFOScheduler)
    asha = sw.build_scheduler(_cfg(scheduler={"type": "asha", "grace_period": 2, "reduction_factor": 2}), 6)
    assert isinstance(asha, ASHAScheduler) and asha._max_t == 6
    assert isinstance(sw.build_scheduler(_cfg(scheduler="hyperband"), 6), HyperBandScheduler)


def test_it_counts_evaluations_and_concurrency():
    val = {"val": {"type": "CustomDataset"}}
    spec = {"runner": {"type": "EpochBasedRunner", "max_epochs": 12}, "evaluation": {"interval": 2}, "data": val}
    assert sw.evaluations(spec) == 6
    # the same count as the facts the service stored, MMCls's legacy top-level total_epochs included
    assert sw.evaluations({"runner": {"type": "EpochBasedRunner"}, "total_epochs": 9, "data": val}) == 9
    assert sw.default_concurrency({"num_workers": 2, "cpus_per_worker": 1}, 4.0) == 2
    assert sw.default_concurrency({"num_workers": 4, "cpus_per_worker": 1}, 2.0) == 1  # never zero


def test_the_operators_bound_caps_trials_that_would_fit_side_by_side():
    one_cpu = {"num_workers": 1, "cpus_per_worker": 1}
    assert sw.trial_concurrency({}, one_cpu, 64.0) == 64
    assert sw.trial_concurrency({}, one_cpu, 64.0, most=16) == 16
    assert sw.trial_concurrency({"max_concurrent_trials": 3}, one_cpu, 64.0, most=16) == 3


def test_pbt_needs_a_key_it_can_mutate():
    space = {"optimizer.lr": {"type": "grid_search", "values": [0.1, 0.01]}}
    with pytest.raises(ValueError, match="scheduler 'pbt' needs a space key it can mutate"):
        sw.normalise({"space": space, "metric": "m", "mode": "max", "scheduler": "pbt"})


def test_pbt_mutates_every_key_but_a_grids():
    space = {**SPACE, "optimizer.momentum": {"type": "grid_search", "values": [0.8, 0.9]}}
    cfg = sw.normalise({"space": space, "metric": "accuracy_top-1", "mode": "max",
                        "scheduler": {"type": "pbt", "quantile_fraction": 0.5}})
    pbt = sw.build_scheduler(cfg, 6)
    assert isinstance(pbt, PopulationBasedTraining)
    assert set(pbt._hyperparam_mutations) == set(SPACE) and pbt._quantile_fraction == 0.5
    assert pbt._perturbation_interval == 1  # compared (and cloned) at every evaluation


def test_a_pbt_trial_checkpoints_at_every_evaluation():
    spec = jobspecs.load_library("demo/resnet18-tiny_asha-sweep_digits.py",
                                 cfg_options={"checkpoint_config.interval": 5, "evaluation.interval": 2,
                                              "checkpoint_config.out_dir": "/elsewhere"})
    out = sw.pbt_spec(spec)
    assert out["checkpoint_config"]["interval"] == 2 and out["checkpoint_config"]["by_epoch"] is True
    assert "out_dir" not in out["checkpoint_config"]  # clones are adopted into the work dir
    assert spec["checkpoint_config"]["interval"] == 5  # a copy


def _checkpoint_file(path, epoch):
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"meta": {"epoch": epoch}, "state_dict": {}}, path)
    return path


def test_a_clones_checkpoint_becomes_the_latest_of_the_trial_that_takes_it(tmp_path):
    import torch

    donor = _checkpoint_file(tmp_path / "donor" / "work" / "epoch_3.pth", 3)
    mine = tmp_path / "mine" / "work"
    for epoch in (2, 3, 4):  # this trial's own run, which PBT discards past the clone's point
        _checkpoint_file(mine / f"epoch_{epoch}.pth", epoch + 100)
    (mine / "latest.pth").symlink_to("epoch_4.pth")
    handoff = tmp_path / "donor" / "pbt-handoff"
    with sw.tune_checkpoint(donor, handoff, {"trial_id": "t_00001", "params": {"optimizer.lr": 0.1}}) as ckpt:
        with ckpt.as_directory() as folder:
            source = sw.adopt_checkpoint(Path(folder), mine)
    assert not handoff.exists()  # handed over, cleaned up
    assert source["trial_id"] == "t_00001" and (source["unit"], source["done"]) == ("epoch", 3)
    assert sorted(p.name for p in mine.glob("epoch_*.pth")) == ["epoch_2.pth", "epoch_3.pth"]
    assert torch.load(mine / "latest.pth")["meta"]["epoch"] == 3  # the engine's auto-resume takes it
    assert donor.is_file()  # the donor keeps its own


def test_the_evaluation_of_a_tune_result_is_the_engines_numbers_without_tunes_bookkeeping():
    result = {"accuracy_top-1": 61.25, "accuracy_top-5": 93.5, "epoch": 1, "iter": 45, "training_iteration": 1,
              "time_this_iter_s": 3.2, "timestamp": 1796568860, "pid": 4242, "done": True, "trial_id": "t_00001",
              "config": {"optimizer.lr": 0.1}, "date": "2026-12-06_14-54-20"}
    assert sw.evaluation_of(result) == (45, 1, {"accuracy_top-1": 61.25, "accuracy_top-5": 93.5})
    # a trial that never reported: Tune's default result holds no evaluation
    assert sw.evaluation_of({"trial_id": "t_00001", "training_iteration": 0}) is None
    assert sw.evaluation_of(None) is None


def test_a_trial_counts_the_evaluations_its_weights_reached():
    spec = {"runner": {"type": "EpochBasedRunner", "max_epochs": 8}, "evaluation": {"interval": 2},
            "data": {"val": {"type": "CustomDataset"}}}
    # a PBT clone of a donor one evaluation behind: Tune's count is the donor's, the engine's epoch is its own
    assert sw.evaluations_done({"training_iteration": 3, "epoch": 8, "iter": 360}, spec) == 4
    assert sw.evaluations_done({"training_iteration": 1, "epoch": 2, "iter": 90}, spec) == 1  # stopped early
    iters = {"runner": {"type": "IterBasedRunner", "max_iters": 600}, "evaluation": {"interval": 200},
             "data": {"val": {"type": "CustomDataset"}}}
    assert sw.evaluations_done({"training_iteration": 2, "epoch": 1, "iter": 600}, iters) == 3
    assert sw.evaluations_done({"training_iteration": 2}) == 2  # no spec, no position: Tune's count


def test_a_pbt_sweep_keeps_every_checkpoint_a_clone_may_restore_from():
    assert sw.tune_checkpoints(_cfg(scheduler={"type": "pbt"})).num_to_keep is None
    assert sw.tune_checkpoints(_cfg(scheduler="asha")).num_to_keep == 3


def test_a_finished_sweep_keeps_its_tune_state_but_not_its_tune_checkpoint_copies(tmp_path):
    from workers.storage import open_storage

    results = tmp_path / "ray_results" / "sweep-1"
    files = ["experiment_state-2026.json", "run_trial_00000/result.json",
             "run_trial_00000/checkpoint_000000/checkpoint.pth", "run_trial_00000/checkpoint_000000/source.json",
             "run_trial_00001/checkpoint_000003/checkpoint.pth", "run_trial_00001/params.json"]
    for rel in files:
        (results / rel).parent.mkdir(parents=True, exist_ok=True)
        (results / rel).write_text("x")
    removed = sw.drop_tune_checkpoints(open_storage(str(tmp_path)), "ray_results/sweep-1")
    assert removed == ["run_trial_00000/checkpoint_000000", "run_trial_00001/checkpoint_000003"]
    left = sorted(str(p.relative_to(results)) for p in results.rglob("*") if p.is_file())
    assert left == ["experiment_state-2026.json", "run_trial_00000/result.json", "run_trial_00001/params.json"]
