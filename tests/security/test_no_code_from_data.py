"""A team member tries to run code on the training nodes through a dataset (issue 13, "no code from data"):
a zip of CIFAR-10 batches, one of them a pickle whose ``__reduce__`` runs a shell command, uploaded through the
API and trained on. The run fails naming the refused pickle, and the command never runs.
"""
from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

from tests.support.cifar import hostile_batch, write_cifar10
from tests.support.live import ONE_WORKER

REFUSAL = ("cifar-10-batches-py/data_batch_3: refused to unpickle 'posix.system': "
           "dataset files may hold only arrays, lists, dicts, strings and numbers")

# A narrow ResNet on CIFAR-10 batches: two images a step, one epoch, one worker. 'data/cifar10' is rebased onto
# the chosen dataset's folder, which holds cifar-10-batches-py/ as the archive unpacks.
CIFAR_SPEC = """
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=16, base_channels=16, num_stages=4,
                  out_indices=(3, ), style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=128,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))
img_norm_cfg = dict(mean=[125.3, 123.0, 113.9], std=[51.6, 50.8, 51.3], to_rgb=False)
train_pipeline = [
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label'])]
test_pipeline = [
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='Collect', keys=['img'])]
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=0,
    train=dict(type='CIFAR10', data_prefix='data/cifar10', pipeline=train_pipeline),
    val=dict(type='CIFAR10', data_prefix='data/cifar10', pipeline=test_pipeline, test_mode=True),
    test=dict(type='CIFAR10', data_prefix='data/cifar10', pipeline=test_pipeline, test_mode=True))
evaluation = dict(interval=1, metric='accuracy')
optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0005)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=[1])
runner = dict(type='EpochBasedRunner', max_epochs=1)
checkpoint_config = dict(interval=1)
log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])
dist_params = dict(backend='gloo')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
resources = dict(num_workers=1, cpus_per_worker=1, strategy='ddp')
"""


def _zip(folder: Path) -> bytes:
    """The folder zipped as a user zips it: every file under one top folder (``cifar10/``), which the upload
    strips, so the dataset's folder holds ``cifar-10-batches-py/`` as the CIFAR loader expects."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, (Path("cifar10") / path.relative_to(folder)).as_posix())
    return buf.getvalue()


def test_it_fails_the_run_naming_the_refused_pickle_and_runs_none_of_it(attack_stack, tmp_path):
    attacker = attack_stack.attacker
    marker = tmp_path / "planted-by-the-dataset"
    write_cifar10(tmp_path / "upload", replace={"data_batch_3": hostile_batch(marker)})
    name = f"cifar10-{uuid.uuid4().hex[:8]}"

    r = attacker.api("POST", "/api/datasets", data={"name": name},
                     files={"file": ("cifar10.zip", _zip(tmp_path / "upload"), "application/zip")})
    assert r.status_code == 201, r.text  # no image layout the verifier knows: stored, its problems reported

    r = attacker.api("POST", "/api/runs", json={"spec_text": CIFAR_SPEC, "dataset": name, "resources": ONE_WORKER})
    assert r.status_code == 201, r.text
    run = attacker.wait_for(r.json()["id"], lambda run: run["status"] in ("succeeded", "failed", "cancelled"),
                            timeout=240, what="the run on the hostile dataset to end")

    assert not marker.exists(), "the dataset's pickle ran a command on a training node"
    logs = attacker.api("GET", f"/api/runs/{run['id']}/logs", params={"limit": 5000})
    assert logs.status_code == 200
    text = "\n".join(line["text"] for line in logs.json())
    assert run["status"] == "failed", (run, text[-3000:])
    assert REFUSAL in run["status_reason"] or REFUSAL in text, (run["status_reason"], text[-3000:])
