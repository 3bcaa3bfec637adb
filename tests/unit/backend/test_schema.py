def test_it_serves_the_openapi_schema_with_the_run_endpoints(cast):
    r = cast.clients["viewer"].get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for p in ["/api/runs", "/api/runs/{id}", "/api/runs/{id}/cancel", "/api/runs/{id}/metrics",
              "/api/runs/{id}/logs", "/api/runs/{id}/checkpoints"]:
        assert p in paths, sorted(paths)


def test_it_serves_the_browsable_api_docs(client):
    r = client.get("/api/docs/")
    assert r.status_code == 200 and b"swagger" in r.content.lower()
