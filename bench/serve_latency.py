"""Serving the demo model: predict latency through the API, ONNX Runtime vs PyTorch eager, dynamic batching
vs none, and the time from "Deploy" to the first answered prediction.

Starts a Ray head and a stack (PostgreSQL + Redis), trains the demo run (2 epochs) and deploys its last
checkpoint three times, one replica of 1 CPU each:

- ``pytorch`` with ``max_batch_size=1`` and ``onnxruntime`` with ``max_batch_size=1``: p50/p95 of one-image
  predictions through ``POST /api/deployments/<id>/predict`` (sequential requests);
- ``pytorch`` with ``max_batch_size=32`` (wait 5 ms) against the first: throughput at 32 concurrent clients,
  through the API and straight at Serve's proxy (the web process out of the way), in ``--rounds`` alternating
  rounds (the shared machine's load moves within a minute): the ratio of the medians, each round's ratio and
  load average, and the CPU each process spent per request (replica, Serve's proxy, the web process, this
  process's client threads), which says where the time goes;
- in this process, without HTTP: one image's forward pass, ONNX Runtime ÷ PyTorch eager (the same prepared
  input, the replica's code: ``workers.serve.classifier``);
- deploy -> first prediction: from ``POST /api/deployments`` to the first 200 answer, for each deployment.

    .venv/bin/python bench/serve_latency.py [--requests 200] [--per-client 20] [--rounds 3]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.project.settings")

import requests  # noqa: E402

from backend.stack import Stack  # noqa: E402
from tests.support.live import create_database, drop_database, start_live_stack  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/11"
CLIENTS = 32


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def train(live) -> dict:
    run = live.submit(name="bench-serve", cfg_options={"runner.max_epochs": 2})
    done = live.wait_for(run["id"], lambda r: r["status"] in ("succeeded", "failed", "cancelled"), 600, "training")
    if done["status"] != "succeeded":
        raise RuntimeError(f"the demo run {done['status']}: {done['status_reason']}")
    return done


def deploy(live, ckpt_id: int, image: bytes, **options) -> tuple[str, float]:
    """Deploy; returns the id and the seconds from POST to the first 200 prediction."""
    t0 = time.monotonic()
    r = live.api("POST", "/api/deployments", json={"checkpoint": ckpt_id, **options})
    r.raise_for_status()
    pk = r.json()["id"]
    while True:
        status = live.api("GET", f"/api/deployments/{pk}").json()
        if status["status"] == "failed":
            raise RuntimeError(f"deployment failed: {status['status_reason']}")
        if status["status"] == "running":
            p = live.api("POST", f"/api/deployments/{pk}/predict", files=[("image", ("digit.png", image))])
            if p.status_code == 200:
                return pk, time.monotonic() - t0
        if time.monotonic() - t0 > 600:
            raise RuntimeError("not running after 600 s:\n" + live.logs_tail())
        time.sleep(0.2)


def sequential(live, pk: str, image: bytes, n: int) -> list[float]:
    """Milliseconds of ``n`` one-image predictions through the API, one after the other (after 10 warm-ups)."""
    out = []
    for i in range(n + 10):
        t0 = time.perf_counter()
        r = live.api("POST", f"/api/deployments/{pk}/predict", files=[("image", ("digit.png", image))])
        r.raise_for_status()
        if i >= 10:
            out.append((time.perf_counter() - t0) * 1000)
    return out


def concurrent(send, per_client: int) -> float:
    """Images per second with ``CLIENTS`` threads each sending ``per_client`` one-image requests."""
    errors = []

    def client():
        session = requests.Session()
        for _ in range(per_client):
            try:
                send(session)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return CLIENTS * per_client / elapsed


def via_api(live, pk: str, image: bytes):
    url = f"{live.url}/api/deployments/{pk}/predict"
    headers = dict(live.http.headers)

    def send(session):
        r = session.post(url, files=[("image", ("digit.png", image))], headers=headers, timeout=120)
        r.raise_for_status()
    return send


def via_proxy(live, pk: str, image: bytes):
    """Straight at Serve's proxy, with the deployment's key (asked of the stack's own settings)."""
    code = ("from backend.deployments import ray_serve; from backend.deployments.models import Deployment; "
            f"d = Deployment.objects.get(pk='{pk}'); "
            "print('OUT=' + json.dumps([ray_serve.proxy_url() + d.route_prefix, ray_serve.deployment_key(d.pk)]))")
    done = live.stack.manage("shell", "-c", "import json; " + code)
    url, key = json.loads([line for line in done.stdout.splitlines() if line.startswith("OUT=")][0][4:])
    headers = {"X-Trainyard-Key": key, "X-Trainyard-Sizes": str(len(image)), "X-Trainyard-Names": '["digit.png"]'}

    def send(session):
        r = session.post(url, data=image, headers=headers, timeout=120)
        r.raise_for_status()
    return send


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has spent so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_processes(live, pk: str) -> dict[str, int]:
    """The pids of the deployment's replica (from the dashboard's Serve API) and of this head's Serve proxy (the
    ``ray::ProxyActor`` whose environment names this head: other heads on the machine have theirs), the web
    process and this one."""
    env = live.stack.env
    apps = requests.get(env["RAY_ADDRESS"].rstrip("/") + "/api/serve/applications/", timeout=30,
                        headers={"Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"}).json()["applications"]
    [deployment] = apps[f"trainyard-{pk}"]["deployments"].values()
    pids = {"replica": int(deployment["replicas"][0]["pid"])}
    mark = f"RAY_API_SERVER_ADDRESS={env['RAY_ADDRESS']}".encode()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"ProxyActor" in (proc / "cmdline").read_bytes():
                if mark in (proc / "environ").read_bytes().split(b"\0"):
                    pids["proxy"] = int(proc.name)
        except OSError:
            continue
    pids["web"] = next(p.pid for name, p in live.stack.procs if name == "web")
    pids["clients"] = os.getpid()
    return pids


def measured(send, per_client: int, pids: dict[str, int]) -> tuple[float, dict[str, float]]:
    """Images per second (``concurrent``) and the CPU milliseconds each process spent per request meanwhile."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    rate = concurrent(send, per_client)
    n = CLIENTS * per_client
    return rate, {name: 1000 * (cpu_seconds(pid) - before[name]) / n for name, pid in pids.items()}


def in_process(spec: dict, checkpoint: Path, image: bytes, n: int = 500) -> dict[str, float]:
    """Median milliseconds of one image's scores in this process (1 thread), per runtime."""
    import torch

    from workers.serve.classifier import ServedClassifier

    torch.set_num_threads(1)
    medians = {}
    for runtime in ("pytorch", "onnxruntime"):
        served = ServedClassifier(spec, checkpoint, runtime=runtime)
        if runtime == "onnxruntime":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            served.model.session = ort.InferenceSession(str(served.model.path), options,
                                                        providers=["CPUExecutionProvider"])
        prepared = [served.prepare(image, "digit.png")]
        for _ in range(50):
            served.scores(prepared)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            served.scores(prepared)
            times.append((time.perf_counter() - t0) * 1000)
        medians[runtime] = statistics.median(times)
    return medians


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200, help="sequential predictions per runtime")
    ap.add_argument("--per-client", type=int, default=20, help="requests of each of the 32 clients")
    ap.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds, batched and not")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="trainyard-bench-serve-"))
    ray = Stack(var_dir=root / "ray")
    ray.start_ray(dashboard_port=free_port(), num_cpus=4)
    env = {k: ray.env[k] for k in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    env["RAY_AUTH_TOKEN"] = ray.ray_auth_token
    db_url = create_database(PG_URL)
    live = None
    try:
        live = start_live_stack(root / "stack", env, {"DATABASE_URL": db_url, "CELERY_BROKER_URL": REDIS_URL})
        run = train(live)
        ckpt = live.api("GET", f"/api/runs/{run['id']}/checkpoints").json()[-1]
        val = live.stack.var_dir / "storage" / "datasets" / "demo" / "digits" / "val" / "7"
        image = sorted(val.iterdir())[0].read_bytes()
        checkpoint = root / "ckpt.pth"
        checkpoint.write_bytes(live.api("GET", ckpt["download_url"]).content)

        first, latency = {}, {}
        for runtime in ("pytorch", "onnxruntime"):
            pk, first[runtime] = deploy(live, ckpt["id"], image, runtime=runtime, max_batch_size=1)
            latency[runtime] = sequential(live, pk, image, args.requests)
            if runtime == "pytorch":
                unbatched = pk
            else:
                live.api("DELETE", f"/api/deployments/{pk}")
        batched, first["pytorch, batch 32"] = deploy(live, ckpt["id"], image, runtime="pytorch",
                                                     max_batch_size=32, batch_wait_timeout_s=0.005)
        senders = {(where, label): make(live, pk, image) for label, pk in (("unbatched", unbatched),
                                                                         ("batched", batched))
                   for where, make in (("API", via_api), ("proxy", via_proxy))}
        pids = {"unbatched": serve_processes(live, unbatched), "batched": serve_processes(live, batched)}
        for send in senders.values():
            concurrent(send, 2)  # warm-up
        rates: dict[tuple, list[float]] = {key: [] for key in senders}
        cpu: dict[tuple, list[dict]] = {key: [] for key in senders}
        loads = []
        for _ in range(args.rounds):
            for (where, label), send in senders.items():
                rate, spent = measured(send, args.per_client, pids[label])
                rates[where, label].append(rate)
                cpu[where, label].append(spent)
            loads.append(os.getloadavg()[0])
        for pk in (unbatched, batched):
            live.api("DELETE", f"/api/deployments/{pk}")
        eager = in_process(run["resolved_spec"], checkpoint, image)
    finally:
        if live is not None:
            live.stack.stop()
        ray.stop()
        drop_database(PG_URL, db_url)

    print("\npredict through the API, one image, sequential (ms):")
    for runtime, values in latency.items():
        print(f"  {runtime:<12} p50 {percentile(values, 0.5):7.2f}  p95 {percentile(values, 0.95):7.2f}  "
              f"({len(values)} requests)")
    ratio = eager["onnxruntime"] / eager["pytorch"]
    print(f"one image's forward in-process, 1 CPU thread: PyTorch eager {eager['pytorch']:.3f} ms, ONNX Runtime "
          f"{eager['onnxruntime']:.3f} ms -> ONNX Runtime / PyTorch = {ratio:.2f} (goal <= 0.7)")
    print(f"throughput at {CLIENTS} concurrent clients (images/s; median of {args.rounds} alternating rounds, "
          f"1-minute load average {', '.join(f'{x:.1f}' for x in loads)} on {os.cpu_count()} cores):")
    for where in ("API", "proxy"):
        b, u = statistics.median(rates[where, "batched"]), statistics.median(rates[where, "unbatched"])
        rounds = ", ".join(f"{x / y:.2f}" for x, y in zip(rates[where, "batched"], rates[where, "unbatched"],
                                                          strict=True))
        print(f"  {where:<6} batched (max 32, wait 5 ms) {b:7.1f}  unbatched {u:7.1f}  -> {b / u:.2f}x (goal >= 2x; "
              f"rounds {rounds})")
        for label in ("unbatched", "batched"):
            names = [n for n in cpu[where, label][0] if where == "API" or n != "web"]
            print(f"    CPU ms per request, {label:<9}: " + "  ".join(
                f"{n} {statistics.median(c[n] for c in cpu[where, label]):.2f}" for n in names))
    print("deploy -> first answered prediction (s): "
          + ", ".join(f"{label} {seconds:.1f}" for label, seconds in first.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
