"""The OpenAPI schema describes the runs and datasets endpoints without generator warnings of their own."""
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

# Not about these endpoints: the token authenticator (backend/accounts) has no schema extension yet.
FOREIGN = ("could not resolve authenticator",)
MINE = ("backend/experiments/api.py", "backend/experiments/serializers.py", "[RunViewSet", "[DatasetViewSet")


def test_it_describes_the_run_and_dataset_endpoints_without_warnings(db):
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    warnings = [w for w in list(GENERATOR_STATS._warn_cache) + list(GENERATOR_STATS._error_cache)
                if any(m in w for m in MINE) and not any(f in w for f in FOREIGN)]
    assert warnings == []
    paths = schema["paths"]
    for p in ["/api/runs/bulk", "/api/runs/{id}/tags", "/api/datasets", "/api/datasets/{id}/verify"]:
        assert p in paths, sorted(paths)
    listed = {p["name"] for p in paths["/api/runs"]["get"]["parameters"]}
    assert {"status", "family", "dataset", "user", "tag", "q", "ordering", "cursor", "page_size"} <= listed
    metrics = {p["name"] for p in paths["/api/runs/{id}/metrics"]["get"]["parameters"]}
    assert {"max_points", "name", "mode", "after"} <= metrics
    assert "multipart/form-data" in paths["/api/datasets"]["post"]["requestBody"]["content"]
