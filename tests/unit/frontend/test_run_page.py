"""A run's page: diffs, reproducibility, timeline, tags and forks, as the cast sees it."""
import pytest
from django.test import Client

import jobspecs
from backend.experiments.models import Checkpoint, LogLine, MetricPoint, RunStatus
from tests.support.cast import DEMO_SPEC


def login(who) -> Client:
    c = Client()
    assert c.login(username=who, password="pw-" + who)
    return c


@pytest.fixture
def demo_run(cast):
    spec = jobspecs.load(jobspecs.library_dir() / DEMO_SPEC, cfg_options={"runner.max_epochs": 2})
    return cast.make_run(name="demo", spec_name=DEMO_SPEC, spec_text="", cfg_options={"runner.max_epochs": 2},
                         resolved_spec=spec, spec_hash=jobspecs.spec_hash(spec),
                         environment={"code_version": "abc1234", "seed": 42, "dataset_fingerprint": "f" * 64,
                                      "packages": {"torch": "2.14.1", "timm": "1.0.31"}})


def test_it_shows_the_changes_against_the_base_spec(cast, demo_run):
    page = login("viewer").get(f"/runs/{demo_run.pk}").content.decode()
    diff = page.split('data-testid="spec-diff"')[1].split("</pre>")[0]
    assert [line for line in diff.splitlines() if 'class="d-add"' in line or 'class="d-del"' in line] == [
        '<span class="d-del">-runner = dict(type=&#x27;EpochBasedRunner&#x27;, max_epochs=6)</span>',
        '<span class="d-add">+runner = dict(type=&#x27;EpochBasedRunner&#x27;, max_epochs=2)</span>']
    assert 'id="curves"' in page and 'data-testid="curves"' in page


def test_it_compares_the_spec_with_another_run(cast, demo_run):
    other = cast.make_run(name="other", resolved_spec={**demo_run.resolved_spec, "seed": 7})
    page = login("viewer").get(f"/runs/{demo_run.pk}/diff?against={other.pk}").content.decode()
    assert '<span class="d-del">-seed = 7</span>' in page and '<span class="d-file">--- other</span>' in page


def test_it_hides_another_teams_run_from_the_comparison(cast, demo_run):
    theirs = cast.make_run(team=cast.other_team, dataset=cast.other_team.datasets.get())
    assert login("viewer").get(f"/runs/{demo_run.pk}/diff?against={theirs.pk}").status_code == 404


def test_it_shows_the_reproducibility_block(cast, demo_run):
    page = login("viewer").get(f"/runs/{demo_run.pk}").content.decode()
    block = page.split('data-testid="repro"')[1].split("</table>")[0]
    for text in (demo_run.spec_hash, "abc1234", "42", "f" * 64, "digits"):
        assert text in block
    assert "torch" in page and "2.14.1" in page


def test_it_shows_durations_on_the_timeline(cast, demo_run):
    demo_run.transition(RunStatus.DISPATCHING)
    demo_run.transition(RunStatus.FAILED, "boom")
    page = login("viewer").get(f"/runs/{demo_run.pk}/timeline").content.decode()
    assert page.index("queued") < page.index("dispatching") < page.index("failed") and " s</span>" in page


def test_it_starts_the_stream_after_the_drawn_points(cast, demo_run):
    point = MetricPoint.objects.create(run=demo_run, mode="train", name="loss", step=1, value=1.0)
    LogLine.objects.create(run=demo_run, text="hello")
    page = login("viewer").get(f"/runs/{demo_run.pk}").content.decode()
    assert f'data-last-event="{point.pk}-0"' in page


def test_it_prefills_a_fork_with_the_spec_and_options(cast, demo_run):
    page = login("member").get(f"/runs/new?fork={demo_run.pk}").content.decode()
    assert f'value="{DEMO_SPEC}" id="spec-1" checked' in page
    assert 'value="runner.max_epochs=2"' in page and 'value="demo (fork)"' in page


def test_it_forks_from_a_checkpoint_with_load_from_naming_it_by_id(cast, demo_run, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    ckpt = Checkpoint.objects.create(run=demo_run, path="runs/x/epoch_2.pth", epoch=2, iteration=20)
    page = login("member").get(f"/runs/new?fork={demo_run.pk}&checkpoint={ckpt.pk}").content.decode()
    assert f'value="load_from=checkpoint:{ckpt.pk}"' in page and "(from epoch 2)" in page
    assert str(tmp_path) not in page  # no storage path reaches the form


def test_it_refuses_a_fork_from_another_runs_checkpoint(cast, demo_run):
    other = cast.make_run()
    ckpt = Checkpoint.objects.create(run=other, path="e.pth", epoch=1, iteration=1)
    assert login("member").get(f"/runs/new?fork={demo_run.pk}&checkpoint={ckpt.pk}").status_code == 404


def test_it_adds_and_removes_a_tag(cast, demo_run):
    c = login("member")
    c.post(f"/runs/{demo_run.pk}/tags", {"tag": "baseline"})
    assert list(demo_run.tags.values_list("name", flat=True)) == ["baseline"]
    c.post(f"/runs/{demo_run.pk}/tags", {"remove": "baseline"})
    assert not demo_run.tags.exists()


@pytest.mark.parametrize("who, status", [("owner", 302), ("member", 302), ("viewer", 403), ("outsider", 404)])
def test_it_lets_only_writers_tag(cast, demo_run, who, status):
    assert login(who).post(f"/runs/{demo_run.pk}/tags", {"tag": "x"}).status_code == status
    assert demo_run.tags.exists() == (status == 302)


@pytest.mark.parametrize("path", ["/runs/{id}", "/runs/{id}/diff", "/runs/new?fork={id}"])
@pytest.mark.parametrize("who, status", [("owner", 200), ("viewer", 200), ("outsider", 404)])
def test_it_shows_the_run_only_to_its_team(cast, demo_run, path, who, status):
    assert login(who).get(path.format(id=demo_run.pk)).status_code == status


def test_it_offers_fork_links_only_to_writers(cast, demo_run, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    (tmp_path / "runs" / str(demo_run.pk)).mkdir(parents=True)
    (tmp_path / "runs" / str(demo_run.pk) / "e.pth").write_bytes(b"w")
    Checkpoint.objects.create(run=demo_run, path=f"runs/{demo_run.pk}/e.pth", epoch=1, iteration=1)
    member_page = login("member").get(f"/runs/{demo_run.pk}").content.decode()
    assert 'id="fork-run"' in member_page and "fork from here" in member_page
    viewer_page = login("viewer").get(f"/runs/{demo_run.pk}").content.decode()
    assert 'id="fork-run"' not in viewer_page and "fork from here" not in viewer_page


def test_it_shows_the_effective_batch_and_the_scaled_lr(cast):
    from django.test import Client

    spec = {"data": {"samples_per_gpu": 32}, "optimizer": {"type": "SGD", "lr": 0.1},
            "auto_scale_lr": {"enable": True, "base_batch_size": 256}}
    run = cast.make_run(resolved_spec=spec, resources={"num_workers": 4})
    client = Client()
    client.force_login(cast.users["viewer"])
    html = client.get(f"/runs/{run.pk}").content.decode()
    start = html.index('id="batch"')
    text = " ".join(html[start:html.index("</p>", start)].split())
    assert "Effective batch <b>128</b> = 32 per worker × 4 workers" in text
    assert "trains at <b>0.05</b>" in text
