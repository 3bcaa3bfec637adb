"""The integration tests' services (Ray head, PostgreSQL/Redis stacks) come from ``tests.support.stack_fixtures``,
a plugin of the root conftest."""
