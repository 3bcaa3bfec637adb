"""The cast of every backend test (``tests/support/cast.py``): an owner, a member, a viewer of team A, and an
outsider (owner of team B), each with an API client authenticated with a personal token."""
import pytest

from tests.support.cast import Cast


@pytest.fixture
def cast(db):
    return Cast()


@pytest.fixture
def deployment(cast):
    """A running deployment of team A, of a checkpoint of a succeeded run (stored only: nothing on Ray)."""
    from backend.deployments.models import Deployment, DeploymentStatus
    from backend.experiments.models import Checkpoint, RunStatus

    run = cast.make_run(status=RunStatus.SUCCEEDED)
    ckpt = Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/epoch_1.pth", epoch=1, iteration=1)
    return Deployment.objects.create(team=cast.team, run=run, checkpoint=ckpt, name="d",
                                     status=DeploymentStatus.RUNNING)
