"""jobspecs.paths.url_problem: which URLs a spec may make a worker fetch (TRAINYARD_CHECKPOINT_URL_HOSTS)."""
from __future__ import annotations

import pytest

from jobspecs.paths import url_problem

ZOO = "/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth"


@pytest.mark.parametrize("url, allowed", [
    (f"https://download.openmmlab.com{ZOO}", ["download.openmmlab.com"]),
    (f"HTTPS://Download.OpenMMLab.COM{ZOO}", ["download.openmmlab.com"]),  # scheme and host in any case
    (f"https://download.openmmlab.com{ZOO}", ["DOWNLOAD.openmmlab.com"]),
    (f"https://download.openmmlab.com.{ZOO}", ["download.openmmlab.com"]),  # a fully qualified name
    (f"https://download.openmmlab.com{ZOO}", ["download.openmmlab.com."]),
    (f"https://download.openmmlab.com{ZOO}", ["*.openmmlab.com"]),
    (f"https://a.b.openmmlab.com{ZOO}", ["*.openmmlab.com"]),
    (f"https://download.openmmlab.com:8443{ZOO}", ["download.openmmlab.com:8443"]),
    (f"https://download.openmmlab.com{ZOO}", ["download.openmmlab.com:443"]),  # the scheme's port
    (f"http://models.internal{ZOO}", ["models.internal:80"]),
    (f"http://[fd00::5]:8080{ZOO}", ["[fd00::5]:8080"]),
    (f"http://[fd00::5]{ZOO}", ["fd00::5"]),
    (f"http://10.0.0.7:9000{ZOO}", [" 10.0.0.7 ", ""]),
])
def test_it_allows_a_url_whose_host_is_on_the_allowlist(url, allowed):
    assert url_problem(url, allowed) is None


@pytest.mark.parametrize("url, allowed, says", [
    (f"https://download.openmmlab.com{ZOO}", [], "TRAINYARD_CHECKPOINT_URL_HOSTS is empty"),
    (f"https://evil.example{ZOO}", ["download.openmmlab.com"], "host 'evil.example' is not on"),
    ("http://169.254.169.254/latest/meta-data/", ["download.openmmlab.com"], "host '169.254.169.254'"),
    ("http://localhost:6379/", ["download.openmmlab.com"], "host 'localhost'"),
    (f"https://openmmlab.com{ZOO}", ["*.openmmlab.com"], "host 'openmmlab.com'"),  # the wildcard's own domain
    (f"https://evilopenmmlab.com{ZOO}", ["*.openmmlab.com"], "host 'evilopenmmlab.com'"),
    (f"https://download.openmmlab.com.evil.example{ZOO}", ["download.openmmlab.com"], "is not on"),
    (f"https://download.openmmlab.com..{ZOO}", ["download.openmmlab.com"], "is not on"),
    (f"https://download.openmmlab.com:8443{ZOO}", ["download.openmmlab.com:443"], "is not on"),
    (f"http://download.openmmlab.com{ZOO}", ["download.openmmlab.com:443"], "is not on"),  # http is port 80
    (f"http://[::1]:8080{ZOO}", ["[fd00::5]:8080"], "host '::1'"),
    (f"http://[::1]{ZOO}", ["fd00::5"], "host '::1'"),
    (f"https://download.openmmlab.com{ZOO}", ["*", "*."], "is not on"),  # no allow-everything entry
    (f"https://download.openmmlab.com{ZOO}", ["download.openmmlab.com/mmcls", "download.openmmlab.com:x"],
     "is not on"),  # a malformed entry allows nothing
    (f"http://download.openmmlab.com@evil.example{ZOO}", ["download.openmmlab.com"], "carries credentials"),
    (f"https://user:pw@download.openmmlab.com{ZOO}", ["download.openmmlab.com"], "carries credentials"),
    (f"ftp://download.openmmlab.com{ZOO}", ["download.openmmlab.com"], "only http(s) URLs"),
    (f"file://download.openmmlab.com{ZOO}", ["download.openmmlab.com"], "only http(s) URLs"),
    ("s3://bucket/key.pth?endpoint_override=127.0.0.1:9000", ["127.0.0.1"], "only http(s) URLs"),
    (f"https://download.openmmlab.com:99999{ZOO}", ["download.openmmlab.com"], "is not a valid URL"),
    ("http:///x-abcdef12.pth", ["download.openmmlab.com"], "names no host"),
])
def test_it_refuses_a_url_the_operator_did_not_allow(url, allowed, says):
    problem = url_problem(url, allowed)
    assert problem is not None and says in problem
