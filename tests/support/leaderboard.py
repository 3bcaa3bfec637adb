"""The runs of the leaderboard tests (the API's and the page's): finished runs of two library specs and a
pasted one, on the demo dataset and another, in the cast's team and the outsider's."""
from datetime import timedelta

from django.utils import timezone

from backend.experiments.models import Dataset, RunStatus

RESNET = "resnet/resnet50_8xb32_in1k.py"
LENET = "lenet/lenet5_mnist.py"


def finished_run(cast, spec_name, top1, top5=None, epochs=6, minutes=10, **kw):
    """A succeeded run of ``spec_name`` with these best metrics, ended ``minutes`` after it started."""
    best = {"accuracy_top-1": top1, "epoch": epochs}
    if top5 is not None:
        best["accuracy_top-5"] = top5
    start = timezone.now() - timedelta(hours=1)
    return cast.make_run(spec_name=spec_name, best_metrics=best, status=RunStatus.SUCCEEDED,
                         resolved_spec={"runner": {"type": "EpochBasedRunner", "max_epochs": epochs}},
                         started_at=start, finished_at=start + timedelta(minutes=minutes), **kw)


def make_board(cast) -> dict:
    """The board's runs by role: the best and a worse ResNet, a LeNet, a pasted spec, one without metrics,
    one on another dataset and one of the other team."""
    runs = {
        "resnet-best": finished_run(cast, RESNET, 76.5, 93.0),
        "resnet-worse": finished_run(cast, RESNET, 70.0, 90.0, created_by=cast.users["member"]),
        "lenet": finished_run(cast, LENET, 98.0, 100.0, epochs=3, minutes=2),
        "pasted": finished_run(cast, "", 50.0, spec_hash="ab" * 32),
        "no-metric": cast.make_run(spec_name=RESNET),
    }
    other_ds = Dataset.objects.create(team=cast.team, name="cifar", path="datasets/cifar")
    runs["cifar"] = finished_run(cast, RESNET, 60.0, dataset=other_ds)
    theirs = cast.other_team.datasets.get()
    runs["theirs"] = finished_run(cast, RESNET, 99.9, team=cast.other_team, dataset=theirs,
                                  created_by=cast.users["outsider"])
    return runs
