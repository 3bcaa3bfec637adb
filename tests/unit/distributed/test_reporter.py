"""The reporter against a real local HTTP server that fails, refuses and recovers."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workers.distributed.reporter import HttpReporter


class Backend:
    """A tiny ingestion endpoint: stores batches by (session, seq), like the real one."""

    def __init__(self):
        self.fail_next = 0
        self.status = 200
        self.batches: dict[tuple, dict] = {}
        self.requests = 0
        self.tokens = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests += 1
                outer.tokens.add(self.headers.get("Authorization"))
                if outer.fail_next > 0:
                    outer.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                if outer.status == 200:
                    outer.batches.setdefault((body["session"], body["seq"]), body)
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/ingest/run"

    def points(self):
        return [m for b in self.batches.values() for m in b.get("metrics", [])]

    def lines(self):
        out = []
        for key in sorted(self.batches):
            out += self.batches[key].get("logs", [])
        return out


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.server.shutdown()


def test_it_delivers_metrics_logs_and_checkpoints_with_the_run_token(backend, tmp_path):
    ckpt = tmp_path / "runs" / "r1" / "epoch_1.pth"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"12345")
    rep = HttpReporter(backend.url, "secret", tmp_path / "spool", storage_root=tmp_path, flush_interval=0.05)
    rep.metrics(10, {"loss": 0.5, "lr": 0.1}, epoch=1, mode="train")
    rep.log("Epoch [1][10/20] loss: 0.5")
    rep.checkpoint(str(ckpt), epoch=1, iteration=20, metrics={"accuracy_top-1": 90.0})
    assert rep.close(timeout=10)
    assert backend.tokens == {"Bearer secret"}
    assert sorted((m["name"], m["step"], m["value"]) for m in backend.points()) == [("loss", 10, 0.5), ("lr", 10, 0.1)]
    assert backend.lines() == ["Epoch [1][10/20] loss: 0.5"]
    ck = [c for b in backend.batches.values() for c in b.get("checkpoints", [])]
    assert ck == [{"path": "runs/r1/epoch_1.pth", "epoch": 1, "iteration": 20, "size": 5,
                   "metrics": {"accuracy_top-1": 90.0}}]


def test_it_spools_while_the_backend_is_down_and_loses_nothing(backend, tmp_path):
    backend.fail_next = 6
    rep = HttpReporter(backend.url, "t", tmp_path / "spool", flush_interval=0.05)
    for step in range(1, 101):
        rep.metrics(step, {"loss": 1.0 / step})
        rep.log(f"line {step}")
    assert rep.close(timeout=20)
    assert sorted(m["step"] for m in backend.points()) == list(range(1, 101))
    assert backend.lines() == [f"line {i}" for i in range(1, 101)]  # in order, once each
    assert not list((tmp_path / "spool").glob("*.json"))


def test_a_later_reporter_resends_what_an_earlier_one_left_in_the_spool(backend, tmp_path):
    backend.fail_next = 10**6
    first = HttpReporter(backend.url, "t", tmp_path / "spool", flush_interval=0.05)
    first.metrics(1, {"loss": 1.0})
    assert first.close(timeout=1) is False  # the process ends with the batch on disk
    assert len(list((tmp_path / "spool").glob("*.json"))) == 1
    backend.fail_next = 0
    second = HttpReporter(backend.url, "t", tmp_path / "spool", flush_interval=0.05)
    second.metrics(2, {"loss": 0.5})
    assert second.close(timeout=10)
    assert sorted(m["step"] for m in backend.points()) == [1, 2]


def test_it_notices_a_cancelled_run(backend, tmp_path):
    backend.status = 409
    rep = HttpReporter(backend.url, "t", tmp_path / "spool", flush_interval=0.05)
    rep.metrics(1, {"loss": 1.0})
    assert rep.close(timeout=5)
    assert rep.stop_requested is True
