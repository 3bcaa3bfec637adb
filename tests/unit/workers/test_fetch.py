"""workers/fetch.py: what a spec's URL may make a worker download, against a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import io
import logging

import pytest
import torch

from tests.support.http_server import RecordingServer, Reply
from workers import fetch
from workers.fetch import ChecksumError, NetworkPolicyError, fetch_checkpoint
from workers.models.init import read_checkpoint


@pytest.fixture(autouse=True)
def no_policy_after(monkeypatch, tmp_path):
    """Each test starts and ends without a policy, with torch.hub's cache in a folder of its own."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    fetch.reset()
    yield
    fetch.reset()


def checkpoint_bytes(value: float = 1.5) -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.full((2,), value)}}, buffer)
    return buffer.getvalue()


def hashed_name(data: bytes, stem: str = "resnet18_8xb32_in1k_20210831") -> str:
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def files_under(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_it_fetches_any_url_into_torch_hubs_cache_when_not_configured(tmp_path):
    data = checkpoint_bytes()
    name = hashed_name(data)
    with RecordingServer({f"/{name}": Reply(data)}) as server:
        path = fetch_checkpoint(f"{server.url}/{name}")
    assert path == tmp_path / "torch-home" / "hub" / "checkpoints" / name
    assert path.read_bytes() == data


def test_it_contacts_nothing_when_no_host_is_allowed(tmp_path):
    data = checkpoint_bytes()
    fetch.configure(allowed_hosts=[], cache_dir=tmp_path / "cache", own_storage=None)
    with RecordingServer({"/x-abcdef12.pth": Reply(data)}) as server:
        with pytest.raises(NetworkPolicyError, match="TRAINYARD_CHECKPOINT_URL_HOSTS is empty"):
            fetch_checkpoint(f"{server.url}/x-abcdef12.pth")
    assert server.requests == []
    assert files_under(tmp_path / "cache") == []


def test_it_refuses_a_host_not_on_the_allowlist_without_contacting_it(tmp_path):
    fetch.configure(allowed_hosts=["download.openmmlab.com"], cache_dir=tmp_path / "cache", own_storage=None)
    with RecordingServer() as server:
        with pytest.raises(NetworkPolicyError, match="host '127.0.0.1' is not on the operator's allowlist"):
            read_checkpoint(f"{server.url}/x-abcdef12.pth")
    assert server.requests == []


def test_it_puts_an_allowed_download_in_the_run_cache_never_in_torch_hubs(tmp_path):
    data = checkpoint_bytes(2.5)
    name = hashed_name(data)
    with RecordingServer({f"/{name}": Reply(data)}) as server:
        fetch.configure(allowed_hosts=[server.netloc], cache_dir=tmp_path / "cache", own_storage=None)
        loaded = read_checkpoint(f"{server.url}/{name}")
        again = fetch_checkpoint(f"{server.url}/{name}")
    assert torch.equal(loaded["state_dict"]["w"], torch.full((2,), 2.5))
    assert again.name == name and (tmp_path / "cache") in again.parents
    assert server.requests == [f"GET /{name}"]  # the second call found it in the cache
    assert files_under(tmp_path / "torch-home") == []


def test_it_removes_a_download_whose_hash_does_not_match_its_name(tmp_path):
    data = checkpoint_bytes()
    with RecordingServer({"/resnet18-abcdef12.pth": Reply(data)}) as server:
        fetch.configure(allowed_hosts=[server.netloc], cache_dir=tmp_path / "cache", own_storage=None)
        with pytest.raises(ChecksumError) as caught:
            fetch_checkpoint(f"{server.url}/resnet18-abcdef12.pth")
    assert "abcdef12" in str(caught.value) and hashlib.sha256(data).hexdigest() in str(caught.value)
    assert [n for n in files_under(tmp_path / "cache") if not n.endswith(".lock")] == []


def test_it_fetches_a_name_without_a_hash_and_logs_its_sha256(tmp_path, caplog):
    data = checkpoint_bytes()
    with RecordingServer({"/weights.pth": Reply(data)}) as server:
        fetch.configure(allowed_hosts=[server.netloc], cache_dir=tmp_path / "cache", own_storage=None)
        with caplog.at_level(logging.WARNING, logger="workers.fetch"):
            path = fetch_checkpoint(f"{server.url}/weights.pth")
    assert path.read_bytes() == data
    assert hashlib.sha256(data).hexdigest() in caplog.text


def test_it_refuses_a_redirect_to_a_host_not_allowed_and_never_contacts_it(tmp_path):
    data = checkpoint_bytes()
    name = hashed_name(data)
    with RecordingServer({f"/{name}": Reply(data)}) as inside, RecordingServer() as outside:
        inside.routes["/go"] = Reply(status=302, headers={"Location": f"{outside.url}/{name}"})
        inside.routes["/metadata"] = Reply(status=301, headers={"Location": "http://169.254.169.254/latest/"})
        inside.routes["/local"] = Reply(status=307, headers={"Location": f"http://localhost:{outside.port}/"})
        # the allowlist names the port: the second server (same address, another port) is not allowed
        fetch.configure(allowed_hosts=[inside.netloc], cache_dir=tmp_path / "cache", own_storage=None)
        for path, host in (("/go", "127.0.0.1"), ("/metadata", "169.254.169.254"), ("/local", "localhost")):
            with pytest.raises(NetworkPolicyError, match=f"host '{host}' is not on the operator's allowlist"):
                fetch_checkpoint(f"{inside.url}{path}")
    assert outside.requests == []
    assert inside.requests == ["GET /go", "GET /metadata", "GET /local"]


def test_it_follows_a_redirect_that_stays_on_the_allowlist(tmp_path):
    data = checkpoint_bytes()
    name = hashed_name(data)
    with RecordingServer({f"/files/{name}": Reply(data)}) as server:
        server.routes[f"/{name}"] = Reply(status=302, headers={"Location": f"/files/{name}"})
        fetch.configure(allowed_hosts=["127.0.0.1"], cache_dir=tmp_path / "cache", own_storage=None)
        assert fetch_checkpoint(f"{server.url}/{name}").read_bytes() == data
    assert server.requests == [f"GET /{name}", f"GET /files/{name}"]


def test_it_refuses_endless_redirects(tmp_path):
    with RecordingServer() as server:
        server.routes["/loop-abcdef12.pth"] = Reply(status=302, headers={"Location": "/loop-abcdef12.pth"})
        fetch.configure(allowed_hosts=["127.0.0.1"], cache_dir=tmp_path / "cache", own_storage=None)
        with pytest.raises(NetworkPolicyError, match=f"more than {fetch.MAX_REDIRECTS} redirects"):
            fetch_checkpoint(f"{server.url}/loop-abcdef12.pth")
    assert len(server.requests) == fetch.MAX_REDIRECTS + 1


@pytest.mark.parametrize("says_its_length", [True, False])
def test_it_refuses_a_file_over_the_size_cap(tmp_path, monkeypatch, says_its_length):
    monkeypatch.setattr(fetch, "MAX_BYTES", 4096)
    data = b"x" * 10_000
    name = hashed_name(data)
    with RecordingServer({f"/{name}": Reply(data, length=says_its_length)}) as server:
        fetch.configure(allowed_hosts=[server.netloc], cache_dir=tmp_path / "cache", own_storage=None)
        with pytest.raises(NetworkPolicyError, match="more than the 4096 bytes a checkpoint may have"):
            fetch_checkpoint(f"{server.url}/{name}")
    assert [n for n in files_under(tmp_path / "cache") if not n.endswith(".lock")] == []


def test_it_names_the_http_error_of_a_missing_file(tmp_path):
    with RecordingServer() as server:
        fetch.configure(allowed_hosts=[server.netloc], cache_dir=tmp_path / "cache", own_storage=None)
        with pytest.raises(fetch.FetchError, match="HTTP 404"):
            fetch_checkpoint(f"{server.url}/gone-abcdef12.pth")


def test_it_refuses_a_url_with_credentials_or_another_scheme_when_configured(tmp_path):
    fetch.configure(allowed_hosts=["127.0.0.1"], cache_dir=tmp_path / "cache", own_storage=None)
    with pytest.raises(NetworkPolicyError, match="carries credentials"):
        fetch_checkpoint("http://user:secret@127.0.0.1/x-abcdef12.pth")
    with pytest.raises(NetworkPolicyError, match="only http"):
        fetch.check_url("ftp://127.0.0.1/x-abcdef12.pth")
