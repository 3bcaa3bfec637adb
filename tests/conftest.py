"""Fixtures every test folder can use."""
pytest_plugins = ["tests.s3", "tests.support.stack_fixtures"]  # s3_server; ray_head, pg_stack, embedded_stack
