"""The runs of the leaderboard tests (the API's and the page's): finished runs of two library specs and a
pasted one, on the demo dataset and another, in the cast's team and the outsider's; and a sweep's trials as its
driver registers them and their reporters report (``running_sweep``, ``reported_trial``)."""
from datetime import timedelta

from django.utils import timezone

from backend.experiments import submit, trials
from backend.experiments.models import Dataset, Run, RunStatus, Sweep

RESNET = "resnet/resnet50_8xb32_in1k.py"
LENET = "lenet/lenet5_mnist.py"
SWEEP_SPEC = "demo/resnet18-tiny_asha-sweep_digits.py"  # 6 epochs, ASHA over optimizer.lr and label smoothing


def finished_run(cast, spec_name, top1, top5=None, epochs=6, minutes=10, backbone="ResNet", **kw):
    """A succeeded run of ``spec_name`` (a model of ``backbone``) that trained its ``epochs`` with these best
    metrics, ended ``minutes`` after it started."""
    best = {"accuracy_top-1": top1, "epoch": epochs}
    if top5 is not None:
        best["accuracy_top-5"] = top5
    start = timezone.now() - timedelta(hours=1)
    spec = {"model": {"type": "ImageClassifier", "backbone": {"type": backbone}},
            "runner": {"type": "EpochBasedRunner", "max_epochs": epochs}}
    return cast.make_run(**{"spec_name": spec_name, "best_metrics": best, "status": RunStatus.SUCCEEDED,
                            "resolved_spec": spec, "trained": epochs, "started_at": start,
                            "finished_at": start + timedelta(minutes=minutes), **kw})


def running_sweep(cast, **kw) -> Sweep:
    """A sweep of the demo sweep spec (or of ``spec_text``/``spec_name`` in ``kw``) as submit stores it, running."""
    kw.setdefault("spec_name", None if "spec_text" in kw else SWEEP_SPEC)
    sweep = submit.submit_sweep(cast.users["owner"], dataset="digits", **kw)
    sweep.transition(RunStatus.DISPATCHING)
    sweep.transition(RunStatus.RUNNING)
    return sweep


def report(cast, run, seq: int, *, metrics=(), events=()) -> None:
    """One reporter batch to the run's ingestion endpoint, with the run's own token."""
    r = cast.ingest_client(run).post(f"/api/ingest/{run.pk}", {"session": "s", "seq": seq, "metrics": list(metrics),
                                                                "events": list(events)}, format="json")
    assert r.status_code == 200, r.content


def report_epochs(cast, run, top1s: list[float], *, iters_per_epoch: int = 10) -> None:
    """What the engine reports of epochs 1, 2, ... with these val top-1s: train points during each epoch (the epoch
    in progress) and a val point at its end (the epochs done), as ``workers/engine/loop.py`` numbers them."""
    for i, top1 in enumerate(top1s):
        end = (i + 1) * iters_per_epoch
        report(cast, run, 2 * i, metrics=[{"mode": "train", "name": "loss", "step": end - 5, "epoch": i + 1,
                                           "value": 1.0 / (i + 1)},
                                          {"mode": "train", "name": "loss", "step": end, "epoch": i + 1,
                                           "value": 0.9 / (i + 1)}])
        report(cast, run, 2 * i + 1, metrics=[{"mode": "val", "name": "accuracy_top-1", "step": end, "epoch": i + 1,
                                               "value": top1}])


def reported_trial(cast, sweep, trial_id: str, params: dict, top1s: list[float], *, early: bool = False) -> Run:
    """A trial the sweep's driver registered with ``params`` that trained one epoch per value of ``top1s`` (its
    val top-1s) and ended: stopped early by the scheduler (``early``), or having trained them all."""
    run = trials.register_trial(sweep, trial_id, params)
    report_epochs(cast, run, top1s)
    reason = "stopped early by the scheduler" if early else "finished"
    report(cast, run, 99, events=[{"status": "succeeded", "reason": reason, "early_stopped": early}])
    run.refresh_from_db()
    return run


def make_board(cast) -> dict:
    """The board's runs by role: the best and a worse ResNet, a LeNet, a pasted spec, one without metrics,
    one on another dataset and one of the other team."""
    runs = {
        "resnet-best": finished_run(cast, RESNET, 76.5, 93.0),
        "resnet-worse": finished_run(cast, RESNET, 70.0, 90.0, created_by=cast.users["member"]),
        "lenet": finished_run(cast, LENET, 98.0, 100.0, epochs=3, minutes=2, backbone="LeNet5"),
        "pasted": finished_run(cast, "", 50.0, spec_hash="ab" * 32),
        "no-metric": cast.make_run(spec_name=RESNET),
    }
    other_ds = Dataset.objects.create(team=cast.team, name="cifar", path="datasets/cifar")
    runs["cifar"] = finished_run(cast, RESNET, 60.0, dataset=other_ds)
    theirs = cast.other_team.datasets.get()
    runs["theirs"] = finished_run(cast, RESNET, 99.9, team=cast.other_team, dataset=theirs,
                                  created_by=cast.users["outsider"])
    return runs
