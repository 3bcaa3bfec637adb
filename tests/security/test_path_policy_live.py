"""The path attacks of issue 13 on the real stack (PostgreSQL, Redis, Ray): a second team's member tries to
read files of the workers, to write into or load the demo team's checkpoints, and to train on the demo team's
images by listing them in an annotation file. The victim's checkpoint must not change; nothing must leak."""
import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.support.live import ONE_WORKER

pytestmark = pytest.mark.integration

DEMO = "_base_ = ['../demo/resnet18-tiny_2xb32-6e_digits.py']\n"
ENDED = ("succeeded", "failed", "cancelled")


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ray_token(ray_head) -> tuple[str, Path]:
    path = Path(ray_head.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    return (ray_head.get("RAY_AUTH_TOKEN") or path.read_text()).strip(), path


def test_it_keeps_every_path_of_a_spec_inside_the_attackers_own_run_and_dataset(attack_stack, ray_head):
    live, attacker = attack_stack, attack_stack.attacker
    storage = live.stack.var_dir / "storage"
    ray_token, ray_token_file = _ray_token(ray_head)
    earlier = {r["id"] for r in attacker.api("GET", "/api/runs").json()["results"]}  # other tests' runs
    victim_run = live.submit(name="victim", resources=ONE_WORKER, cfg_options={"runner.max_epochs": 1, "checkpoint_config.interval": 1})

    # A dataset of the attacker's own whose annotation file lists the victim's images.
    victim_images = sorted((storage / "datasets" / "demo" / "digits" / "train").rglob("*.png"))[:3]
    assert victim_images, "seed_demo did not write the demo team's digits under datasets/demo/digits"
    lines = ["a/0.png 0", "a/1.png 1"] + [f"../../../demo/digits/{p.relative_to(storage / 'datasets' / 'demo' / 'digits')} 1"
                                         for p in victim_images]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("meta/train.txt", "\n".join(lines) + "\n")
        zf.writestr("meta/val.txt", "a/0.png 0\n")
        for name in ("train/a/0.png", "train/a/1.png", "val/a/0.png"):
            zf.writestr(name, _png())
    buf.seek(0)
    buf.name = "evil.zip"
    upload = attacker.api("POST", "/api/datasets", data={"name": "evil-annotations"}, files={"file": buf})
    evil_run = None
    if upload.status_code == 201:  # verification may report it; a run must still refuse to read outside
        r = attacker.api("POST", "/api/runs", json={
            "spec_text": DEMO + "data = dict(train=dict(data_prefix='train', ann_file='meta/train.txt'),"
                                " val=dict(data_prefix='val', ann_file='meta/val.txt'))",
            "dataset": "evil-annotations", "cfg_options": {"runner.max_epochs": 1}, "resources": ONE_WORKER})
        assert r.status_code == 201, r.text
        evil_run = r.json()
    else:
        assert upload.status_code == 400, upload.text

    # Spec paths into the victim's run, the web host's files and the Ray token: refused at submit.
    run_folder = f"runs/{victim_run['id']}"
    attempts = [
        {"checkpoint_config.out_dir": f"../{victim_run['id']}/work"},
        {"checkpoint_config.out_dir": str(storage / run_folder / "work")},
        {"load_from": str(storage / run_folder / "work" / "latest.pth")},
        {"resume_from": f"{run_folder}/work/latest.pth"},
        {"data.train.classes": str(ray_token_file)},
        {"data.train.ann_file": "/proc/self/environ"},
        {"log_config.hooks": [{"type": "TensorboardLoggerHook", "log_dir": str(storage / run_folder)}]},
    ]
    for options in attempts:
        r = attacker.api("POST", "/api/runs", json={"spec_name": "demo/resnet18-tiny_2xb32-6e_digits.py",
                                                    "dataset": "digits", "cfg_options": options})
        assert r.status_code == 400, (options, r.text)
    # ... with the attacker's own dataset too (the dataset name resolves in the attacker's team only)
    listed = {r["id"] for r in attacker.api("GET", "/api/runs").json()["results"]} - earlier
    assert listed == ({evil_run["id"]} if evil_run else set())

    done = live.wait_for(victim_run["id"], lambda r: r["status"] in ENDED, 400, "the victim's run")
    assert done["status"] == "succeeded", done["status_reason"] + live.logs_tail()
    ckpts = live.api("GET", f"/api/runs/{victim_run['id']}/checkpoints").json()
    assert ckpts, "the victim's run recorded no checkpoint"
    before = {c["path"]: _digest(storage / c["path"]) for c in ckpts}

    # The victim's checkpoint by id: the attacker cannot even learn it exists.
    theirs = attacker.api("POST", "/api/runs", json={"spec_name": "demo/resnet18-tiny_2xb32-6e_digits.py",
                                                     "dataset": "digits",
                                                     "cfg_options": {"load_from": f"checkpoint:{ckpts[0]['id']}"}})
    assert theirs.status_code == 400 and "is not a checkpoint of a run you can read" in theirs.text
    # ... while the victim's own team forks from it
    fork = live.submit(name="fork", resources=ONE_WORKER,
                       cfg_options={"load_from": f"checkpoint:{ckpts[0]['id']}", "runner.max_epochs": 1})
    fork_done = live.wait_for(fork["id"], lambda r: r["status"] in ENDED, 400, "the fork")
    assert fork_done["status"] == "succeeded", fork_done["status_reason"]
    fork_log = " ".join(line["text"] for line in live.api("GET", f"/api/runs/{fork['id']}/logs").json())
    assert "load checkpoint from" in fork_log and ckpts[0]["path"].rsplit("/", 1)[-1] in fork_log

    if evil_run:
        ended = attacker.wait_for(evil_run["id"], lambda r: r["status"] in ENDED, 300, "the attacker's run")
        assert ended["status"] == "failed"
        logs = " ".join(line["text"] for line in attacker.api("GET", f"/api/runs/{evil_run['id']}/logs").json())
        assert "a file outside the run's dataset" in (ended["status_reason"] + logs)
        assert not list((storage / "runs" / evil_run["id"]).rglob("*.pth")), "the attacker's run trained"

    after = {c["path"]: _digest(storage / c["path"]) for c in ckpts}
    assert after == before
    for path in ["/api/runs"] + ([f"/api/runs/{evil_run['id']}", f"/api/runs/{evil_run['id']}/logs"] if evil_run else []):
        assert ray_token not in attacker.api("GET", path).text
