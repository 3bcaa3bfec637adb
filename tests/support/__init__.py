"""What several test modules (and bench/) share. Test modules import from here, never from one another nor
from a conftest (tests/unit/test_test_layout.py checks it).

- ``cast``: the fixed cast of users and teams of the API tests; ``leaderboard``: the leaderboard's runs
- ``specs``: the demo spec resolved, ``tiny_spec``; ``reporters``: a reporter that keeps what it is told
- ``engine``: a conv + BN net, the learning rates of an ``lr_config``; ``mmcls_keys``: MMCls 0.25 key names
- ``datasets``, ``dataset_formats``, ``cifar``: image folders, zips and bombs, files in datasets' own formats
- ``mmcls_pipeline``: MMCls 0.25's recorded pipeline outputs (tests/fixtures/mmcls_pipeline) and their measures
- ``spec_source``: spec snippets and the SpecError a call raises
- ``ports``: free TCP ports (the one helper for them); ``http_server``: a server that records requests
- ``live``, ``stack_fixtures``, ``isolation``, ``s3``, ``sweeps``: the live stack, its fixtures, what keeps
  parallel workers apart, a real S3 endpoint, sweeps on a stack
- ``browser``: logging in through the form in the browser tests
"""
