"""The new-run form: library search with zoo numbers, live validation, cfg-option rows, uploads."""
from html import unescape
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from backend.experiments.models import Run
from frontend.views import new
from tests.support.cast import DEMO_SPEC

BAD_SPEC = "model = dict(\n    type='ImageClassifier',\n    backbone=dict(type=ResNet))\n"


def login(who) -> Client:
    c = Client()
    assert c.login(username=who, password="pw-" + who)
    return c


def spec_rows(page: str) -> list[str]:
    return [p.split('value="')[1].split('"')[0] for p in page.split('data-testid="spec-row"')[1:]]


def test_it_searches_the_library_by_family_and_dataset(cast):
    rows = spec_rows(login("member").get("/runs/new/specs?q=resnet cifar10").content.decode())
    assert rows and all(r.startswith("resnet/") and "cifar10" in r for r in rows)
    assert "resnet/resnet18_8xb16_cifar10.py" in rows


def test_it_shows_the_zoo_numbers_beside_a_spec(cast, monkeypatch):
    entry = SimpleNamespace(variant="ResNet-18", params=11_690_000, flops=1_820_000_000, top1=69.9)
    monkeypatch.setattr(new, "_zoo", lambda: {"resnet/resnet18_8xb32_in1k.py": entry})
    page = login("member").get("/runs/new/specs?q=resnet18_8xb32_in1k").content.decode()
    row = page.split('data-testid="spec-row"')[1]
    assert "ResNet-18" in row and "11.69M" in row and "1.82G" in row and "69.90" in row


def test_it_works_without_the_zoo(cast, monkeypatch):
    monkeypatch.setattr(new, "_zoo", lambda: {})
    page = login("member").get("/runs/new/specs?q=lenet5").content.decode()
    assert spec_rows(page) == ["lenet/lenet5_mnist.py"] and "—" in page


def test_it_validates_a_pasted_spec_with_the_line_and_column(cast):
    r = login("member").post("/runs/new/validate", {"spec_text": BAD_SPEC})
    page = r.content.decode()
    assert r.status_code == 200 and 'id="spec-errors"' in page
    assert 'data-line="3"' in page and "line 3" in page and "ResNet" in page


def test_it_says_when_the_spec_resolves(cast):
    page = login("member").post("/runs/new/validate", {"spec_name": DEMO_SPEC, "cfg_option": ["runner.max_epochs=3"]})
    text = page.content.decode()
    assert "✓ The spec resolves" in text and "3 epochs" in text


def test_it_validates_the_cfg_options_rows(cast):
    page = login("member").post("/runs/new/validate", {"spec_name": DEMO_SPEC,
                                                       "cfg_option": ["model.backbone.type=ResNett"]}).content.decode()
    assert "unknown" in page and "ResNett" in page and "did you mean" in page


def test_it_submits_the_rows_and_resources(cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        r = login("member").post("/runs/new", {
            "spec_name": DEMO_SPEC, "dataset": "digits", "cfg_option": ["runner.max_epochs=2", "", "optimizer.lr=0.05"],
            "num_workers": "3", "cpus_per_worker": "2", "strategy": "deepspeed", "name": "rows"})
    run = Run.objects.get()
    assert r.status_code == 302
    assert run.cfg_options == {"runner.max_epochs": 2, "optimizer.lr": 0.05}
    assert (run.resources["num_workers"], run.resources["cpus_per_worker"], run.resources["strategy"]) == \
        (3, 2.0, "deepspeed")


def test_it_takes_an_uploaded_spec_file(cast):
    upload = SimpleUploadedFile("my_spec.py", BAD_SPEC.encode())
    r = login("member").post("/runs/new", {"spec_name": DEMO_SPEC, "spec_file": upload, "dataset": "digits"})
    assert r.status_code == 400 and "line 3" in r.content.decode()  # the upload won over the library pick
    assert not Run.objects.exists()


def test_it_keeps_the_rows_after_an_error(cast):
    r = login("member").post("/runs/new", {"spec_name": DEMO_SPEC, "dataset": "nope",
                                           "cfg_option": ["runner.max_epochs=2"]})
    page = unescape(r.content.decode())
    assert r.status_code == 400 and "No dataset 'nope'" in page and 'value="runner.max_epochs=2"' in page


@pytest.mark.parametrize("path", ["/runs/new", "/runs/new/specs"])
def test_it_needs_a_team_for_the_form(cast, path):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("loner", password="pw-loner")
    assert login("loner").get(path).status_code == 404


@pytest.mark.parametrize("who", ["owner", "viewer", "outsider"])
def test_it_validates_for_anyone_in_a_team(cast, who):
    assert login(who).post("/runs/new/validate", {"spec_name": DEMO_SPEC}).status_code == 200


@pytest.mark.parametrize("who, status", [("owner", 302), ("viewer", 403)])
def test_it_lets_only_writers_submit(cast, who, status, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        r = login(who).post("/runs/new", {"spec_name": DEMO_SPEC, "dataset": "digits"})
    assert r.status_code == status and Run.objects.exists() == (status == 302)


def test_it_submits_an_outsiders_run_to_their_own_team(cast, django_capture_on_commit_callbacks):
    """The outsider's form offers their own team's datasets only: team A's is not found."""
    r = login("outsider").post("/runs/new", {"spec_name": DEMO_SPEC, "dataset": "digits"})
    assert r.status_code == 400 and "No dataset 'digits' in team Team B" in unescape(r.content.decode())
