"""Attack: a spec that makes the service's workers fetch a URL the operator did not allow (issue 13, item 3).

A member of one team submits a spec whose checkpoint is ``http://127.0.0.1:<port>/...`` (standing in for an
internal service or the cloud's metadata endpoint), or an object-store URI with an endpoint of its own. The
service must refuse it at submit (400, nothing stored), and a worker that gets such a spec all the same (a
job not written by the service) must refuse it before it contacts anything. A real HTTP server started here
records every request: it must get none.
"""
from __future__ import annotations

import io
import time
import uuid
import zipfile

import numpy as np
import pytest
from PIL import Image

import jobspecs
from tests.support.http_server import RecordingServer
from workers import fetch
from workers.fetch import NetworkPolicyError

BASE = "_base_ = ['../demo/resnet18-tiny_2xb32-6e_digits.py']\n"
# What the attacker writes, with {url} the recording server; each names the network in another field.
HOSTILE_SPECS = {
    "init_cfg": "model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='{url}/x-abcdef12.pth')))",
    "init_cfg_list_on_head": "model = dict(head=dict(init_cfg=[dict(type='Pretrained', "
                             "checkpoint='{url}/head-abcdef12.pth', prefix='head.')]))",
    "pretrained": "model = dict(pretrained='{url}/p-abcdef12.pth')",
    "load_from_http": "load_from = '{url}/l-abcdef12.pth'",
    "load_from_endpoint": "load_from = 's3://bucket/k.pth?endpoint_override={netloc}&scheme=http'",
}


def png(value: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


def write_tiny_dataset(root) -> None:
    """``root/{train,val}/{a,b}/N.png``: the folders layout of MMClassification's CustomDataset."""
    for split in ("train", "val"):
        for index, label in enumerate(("a", "b")):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(2):
                (folder / f"{i}.png").write_bytes(png(40 + 160 * index + i))


@pytest.fixture(scope="module")
def attacker_dataset(attack_stack) -> str:
    """A dataset of the attacker's own team, so that the spec's URL is all that is wrong with the request."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for split in ("train", "val"):
            for index, label in enumerate(("a", "b")):
                for i in range(2):
                    zf.writestr(f"{split}/{label}/{i}.png", png(40 + 160 * index + i))
    name = f"own-{uuid.uuid4().hex[:8]}"
    r = attack_stack.attacker.api("POST", "/api/datasets", data={"name": name},
                                  files={"file": ("own.zip", archive.getvalue(), "application/zip")})
    assert r.status_code == 201, r.text
    return name


def attacker_run_ids(attack_stack) -> set[str]:
    r = attack_stack.attacker.api("GET", "/api/runs")
    assert r.status_code == 200, r.text
    body = r.json()
    return {run["id"] for run in (body["results"] if isinstance(body, dict) else body)}


@pytest.mark.parametrize("field", sorted(HOSTILE_SPECS))
def test_it_refuses_a_spec_naming_a_network_location_and_nothing_is_fetched(attack_stack, attacker_dataset, field):
    before = attacker_run_ids(attack_stack)
    with RecordingServer() as server:
        text = BASE + HOSTILE_SPECS[field].format(url=server.url, netloc=server.netloc)
        r = attack_stack.attacker.api("POST", "/api/runs", json={
            "spec_text": text, "dataset": attacker_dataset, "cfg_options": {"runner.max_epochs": 1}})
        time.sleep(3)  # a run dispatched all the same would be building its model by now
        assert r.status_code == 400, r.text
        assert "127.0.0.1" in r.text  # the refusal names the location, not something else in the request
        assert attacker_run_ids(attack_stack) == before
        assert server.requests == []


@pytest.fixture
def worker_policy(tmp_path):
    """The service's policy in this process, as ``workers.distributed.launch`` sets it: nothing allowed."""
    fetch.configure(allowed_hosts=[], cache_dir=tmp_path / "run" / "cache", own_storage=str(tmp_path / "storage"))
    yield
    fetch.reset()


def demo_spec(**cfg_options) -> dict:
    return jobspecs.load(jobspecs.library_dir() / "demo" / "resnet18-tiny_2xb32-6e_digits.py",
                         cfg_options={"runner.max_epochs": 1, **cfg_options})


def test_it_refuses_a_pretrained_url_in_the_worker_without_the_submit_check(worker_policy):
    from workers.models import build_model

    with RecordingServer() as server:
        spec = demo_spec(**{"model.backbone.init_cfg": {"type": "Pretrained",
                                                        "checkpoint": f"{server.url}/x-abcdef12.pth"}})
        with pytest.raises(NetworkPolicyError, match="TRAINYARD_CHECKPOINT_URL_HOSTS is empty"):
            build_model(spec["model"])
        time.sleep(1)
    assert server.requests == []


@pytest.mark.parametrize("load_from", ["{url}/l-abcdef12.pth", "s3://bucket/k.pth?endpoint_override={netloc}&scheme=http"])
def test_it_refuses_a_load_from_location_in_the_engine_without_the_submit_check(worker_policy, tmp_path, load_from):
    from workers.engine import train

    write_tiny_dataset(tmp_path / "data" / "digits")
    with RecordingServer() as server:
        spec = demo_spec(**{"data.samples_per_gpu": 2, "data.workers_per_gpu": 0})
        location = load_from.format(url=server.url, netloc=server.netloc)
        with pytest.raises(NetworkPolicyError, match="refused to"):
            train(spec, tmp_path / "run" / "work", load_from=location, data_root=tmp_path, console=False)
        time.sleep(1)
    assert server.requests == []
    assert not list((tmp_path / "run" / "work").glob("*.pth"))
