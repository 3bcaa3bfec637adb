"""A run with strategy='deepspeed' through the whole path: API -> Ray Job -> 2 Ray Train workers
running DeepSpeed ZeRO-2 on CPU (gloo)."""
import io

import pytest
import torch

pytestmark = pytest.mark.integration


def test_it_trains_the_demo_with_deepspeed_zero2_on_two_workers(embedded_stack):
    live = embedded_stack
    run = live.submit(name="deepspeed", resources={"strategy": "deepspeed", "deepspeed": {"zero_stage": 2}},
                      cfg_options={"runner.max_epochs": 3})
    done = live.wait_for(run["id"], lambda r: r["status"] in ("succeeded", "failed", "cancelled"), 420, "the run")
    assert done["status"] == "succeeded", done["status_reason"] + live.logs_tail()
    assert done["resources"]["strategy"] == "deepspeed"
    points = live.api("GET", f"/api/runs/{run['id']}/metrics").json()
    top1 = [p["value"] for p in points if p["name"] == "accuracy_top-1"]
    assert len(top1) == 3 and max(top1) > 40.0
    logs = " ".join(line["text"] for line in live.api("GET", f"/api/runs/{run['id']}/logs").json())
    assert "deepspeed" in logs.lower()
    ckpts = live.api("GET", f"/api/runs/{run['id']}/checkpoints").json()
    state = torch.load(io.BytesIO(live.api("GET", ckpts[-1]["download_url"]).content), weights_only=True)
    assert any(k.startswith("backbone.") for k in state["state_dict"])
