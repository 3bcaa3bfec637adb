def test_it_serves_the_openapi_schema_with_the_run_endpoints(cast):
    r = cast.clients["viewer"].get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for p in ["/api/runs", "/api/runs/{id}", "/api/runs/{id}/cancel", "/api/runs/{id}/metrics",
              "/api/runs/{id}/logs", "/api/runs/{id}/checkpoints"]:
        assert p in paths, sorted(paths)


def test_it_serves_the_browsable_api_docs_without_a_cdn(client):
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page and "cdn.jsdelivr" not in page
    script = next(part.split('"')[0] for part in page.split('src="')[1:] if "swagger-ui-bundle" in part)
    assert client.get(script).status_code == 200  # the bundle is served by the app itself
