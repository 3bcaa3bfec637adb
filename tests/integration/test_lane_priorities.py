"""The suite's own scheduling on a real Ray head (tests/support/lanes.py): the trainers a test's Ray starts run at
normal priority, so that the unit tests beside the Ray lane (which lower theirs) yield the cores to them. Ray's
default would start them at nice 15, below every unit test."""
import time

import pytest
from ray.job_submission import JobSubmissionClient

pytestmark = pytest.mark.integration

PROBE = ("import os, ray; ray.init(); "
         "print('worker nice', ray.get(ray.remote(num_cpus=0)(lambda: os.getpriority(os.PRIO_PROCESS, 0)).remote()))")


def test_a_test_heads_ray_workers_run_at_normal_priority(ray_head):
    ray = JobSubmissionClient(ray_head["RAY_ADDRESS"],
                              headers={"Authorization": f"Bearer {ray_head['RAY_AUTH_TOKEN']}"})
    job = ray.submit_job(entrypoint=f'python -c "{PROBE}"')
    deadline = time.monotonic() + 120
    while (status := ray.get_job_status(job).value) not in ("SUCCEEDED", "FAILED", "STOPPED"):
        assert time.monotonic() < deadline, ray.get_job_logs(job)
        time.sleep(0.5)
    logs = ray.get_job_logs(job)
    assert status == "SUCCEEDED", logs
    assert "worker nice 0" in logs, logs
