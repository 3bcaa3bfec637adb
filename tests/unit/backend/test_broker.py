"""The embedded broker never hands the worker a half-written message.

Kombu's own filesystem transport fails this test: the consumer moves a message file while its
producer is still writing it and reads it empty (every message, in this set-up).
"""
import multiprocessing
import time

from kombu import Connection

from backend.broker import AtomicFilesystemTransport

BODY = "x" * 1_000_000  # big enough that writing a message takes a while
PER_PRODUCER = 40


def _produce(options: dict, k: int) -> None:
    with Connection("filesystem://", transport=AtomicFilesystemTransport, transport_options=options) as c:
        q = c.SimpleQueue("jobs")
        for i in range(PER_PRODUCER):
            q.put({"k": k, "i": i, "body": BODY})


def test_it_delivers_every_message_whole_while_other_processes_write(tmp_path):
    (tmp_path / "queue").mkdir()
    options = {"data_folder_in": str(tmp_path / "queue"), "data_folder_out": str(tmp_path / "queue"),
               "control_folder": str(tmp_path / "control")}
    producers = [multiprocessing.get_context("fork").Process(target=_produce, args=(options, k)) for k in range(2)]
    for p in producers:
        p.start()
    seen, errors = set(), []
    with Connection("filesystem://", transport=AtomicFilesystemTransport, transport_options=options) as conn:
        queue = conn.SimpleQueue("jobs")
        deadline = time.monotonic() + 60
        while len(seen) < 2 * PER_PRODUCER and time.monotonic() < deadline:
            try:
                message = queue.get(block=False)  # poll as fast as a busy worker would
            except queue.Empty:
                continue
            except Exception as exc:  # a torn message
                errors.append(repr(exc))
                continue
            assert message.payload["body"] == BODY
            seen.add((message.payload["k"], message.payload["i"]))
            message.ack()
    for p in producers:
        p.join()
    assert errors == []
    assert len(seen) == 2 * PER_PRODUCER
