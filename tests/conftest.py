"""Fixtures every test folder can use."""
pytest_plugins = ["tests.s3"]  # s3_server, s3_uri: a real S3 endpoint (moto over HTTP)
