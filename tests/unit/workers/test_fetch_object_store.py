"""workers/storage.py ``fetched`` under the service's network policy: a ``load_from`` URI is read only from the
service's own storage (a real S3 endpoint, moto's server), never from an endpoint or bucket the spec chose."""
from __future__ import annotations

import io

import pytest
import torch

from tests.support.http_server import RecordingServer
from workers import fetch
from workers.fetch import NetworkPolicyError
from workers.storage import Storage, fetched


@pytest.fixture(autouse=True)
def no_policy_after():
    fetch.reset()
    yield
    fetch.reset()


def stored_checkpoint(storage: Storage, key: str) -> None:
    buffer = io.BytesIO()
    torch.save({"meta": {"epoch": 3}}, buffer)
    storage.write_bytes(key, buffer.getvalue())


def test_it_reads_a_uri_inside_the_services_own_storage(s3_uri, tmp_path):
    storage = Storage(s3_uri)
    stored_checkpoint(storage, "runs/r/work/epoch_3.pth")
    fetch.configure(allowed_hosts=[], cache_dir=tmp_path / "cache", own_storage=s3_uri)
    for uri in (storage.uri("runs/r/work/epoch_3.pth"), storage.uri("runs/r/work/epoch_3.pth").split("?")[0]):
        with fetched(uri) as local:  # with the storage's own options, or none
            assert torch.load(local, weights_only=True)["meta"]["epoch"] == 3


def test_it_refuses_a_uri_with_an_endpoint_of_its_own_and_contacts_nothing(s3_uri, tmp_path):
    bucket_and_prefix = s3_uri.split("?")[0]
    fetch.configure(allowed_hosts=[], cache_dir=tmp_path / "cache", own_storage=s3_uri)
    with RecordingServer() as server:
        hostile = f"{bucket_and_prefix}/runs/r/work/epoch_3.pth?endpoint_override={server.netloc}&scheme=http"
        with pytest.raises(NetworkPolicyError, match=r"may not carry options of its own \(endpoint_override, "
                                                     r"scheme\)"):
            with fetched(hostile):
                pass
        with pytest.raises(NetworkPolicyError, match="this service fetches no URL"):
            with fetched(f"{server.url}/epoch_3-abcdef12.pth"):
                pass
    assert server.requests == []


@pytest.mark.parametrize("outside", ["s3://another-bucket/trainyard/runs/r/work/epoch_3.pth",
                                     "{base}-other/runs/r/epoch_3.pth", "{base}/runs/../../x/epoch_3.pth",
                                     "{base}", "gs://{bucket}/trainyard/runs/r/epoch_3.pth",
                                     "s3://testing:testing@{bucket}/trainyard/runs/r/epoch_3.pth"])
def test_it_refuses_a_uri_outside_the_services_own_storage(s3_uri, tmp_path, outside):
    base = s3_uri.split("?")[0]
    uri = outside.format(base=base, bucket=base[len("s3://"):].split("/")[0])
    fetch.configure(allowed_hosts=[], cache_dir=tmp_path / "cache", own_storage=s3_uri)
    with pytest.raises(NetworkPolicyError, match="it is not a file inside the service's own storage"):
        with fetched(uri):
            pass


def test_it_refuses_every_uri_when_the_service_stores_on_a_path(tmp_path):
    fetch.configure(allowed_hosts=[], cache_dir=tmp_path / "cache", own_storage=str(tmp_path / "storage"))
    with pytest.raises(NetworkPolicyError, match="this service reads no object-store URI a spec names"):
        with fetched("s3://bucket/trainyard/runs/r/epoch_3.pth?secret_key=hunter2"):
            pass


def test_it_keeps_secrets_of_a_refused_uri_out_of_the_message(tmp_path):
    fetch.configure(allowed_hosts=[], cache_dir=tmp_path / "cache", own_storage=None)
    with pytest.raises(NetworkPolicyError) as caught:
        with fetched("s3://KEY:hunter2@bucket/x.pth?secret_key=hunter3"):
            pass
    assert "hunter2" not in str(caught.value) and "hunter3" not in str(caught.value)
