"""A real S3 endpoint for tests: moto's server on a free port, spoken to over HTTP by pyarrow and boto.

No mock is patched in: the code under test opens ``s3://bucket/prefix?endpoint_override=...&scheme=http``
like any object store. Credentials are moto's dummies, set in the environment (where pyarrow and the Ray
nodes a test starts look for them).
"""
from __future__ import annotations

import os
import uuid

import pytest

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


class S3Server:
    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"{host}:{port}"

    def bucket(self) -> str:
        """A new, empty bucket."""
        import pyarrow.fs as pafs

        name = f"t-{uuid.uuid4().hex[:12]}"
        fs = pafs.S3FileSystem(endpoint_override=self.endpoint, scheme="http", region="us-east-1",
                               access_key="testing", secret_key="testing", allow_bucket_creation=True)
        fs.create_dir(name)
        return name

    def uri(self, bucket: str, prefix: str = "trainyard", *, credentials: bool = False) -> str:
        """The storage URI; ``credentials``: moto's dummy keys in it, for processes without them in their
        environment (a Ray cluster started before this server)."""
        auth = "testing:testing@" if credentials else ""
        return f"s3://{auth}{bucket}/{prefix}?endpoint_override={self.endpoint}&scheme=http&region=us-east-1"

    def stop(self):
        self.server.stop()


@pytest.fixture(scope="session")
def s3_server():
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = S3Server()
    yield server
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def s3_uri(s3_server, tmp_path, monkeypatch):
    """A fresh ``TRAINYARD_STORAGE`` URI on its own bucket, with this test's scratch folder."""
    monkeypatch.setenv("TRAINYARD_SCRATCH", str(tmp_path / "scratch"))
    return s3_server.uri(s3_server.bucket())
