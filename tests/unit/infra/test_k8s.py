"""infra/k8s: both overlays render, every object validates against its schema (Kubernetes' own at a pinned
version, the RayCluster against KubeRay's CRD), and the pieces agree with the code and with each other."""
import copy
import functools
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from django.urls import reverse
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from tests.support import kustomize

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "infra" / "k8s"
OVERLAYS = ("cpu", "gpu")
VARIANT = {"cpu": "-cpu", "gpu": "-cuda"}
# the Kubernetes versions whose schemas (kubernetes-validate's) the objects are checked against: the oldest one
# supported and a current one; KubeRay's pod templates against the current one
KUBERNETES_VERSIONS = ("1.30", "1.34")
KUBERNETES = KUBERNETES_VERSIONS[-1]
KUBERAY_SCHEMA = Path(__file__).with_name("kuberay") / "ray.io_rayclusters.v1.subset.yaml"
SERVICE = ("trainyard-web", "trainyard-worker")  # the pods that speak to Ray


@functools.cache
def _render(overlay: str) -> tuple[dict, ...]:
    return tuple(kustomize.build(K8S / "overlays" / overlay)[0])


def _get(overlay: str, kind: str, name: str | None = None) -> dict:
    found = [o for o in _render(overlay) if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def _example_names() -> set[str]:
    return {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
            if line and not line.startswith("#")}


def _example_secrets() -> dict[str, dict]:
    docs = yaml.safe_load_all((K8S / "secrets.example.yaml").read_text())
    return {d["metadata"]["name"]: d for d in docs if d}


def _pod(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def _ray_pods(overlay: str) -> dict[str, dict]:
    spec = _get(overlay, "RayCluster")["spec"]
    return {"head": spec["headGroupSpec"]["template"]["spec"],
            **{g["groupName"]: g["template"]["spec"] for g in spec["workerGroupSpecs"]}}


def _service_workloads(overlay: str) -> dict[str, dict]:
    """web, worker, beat and the migrate Job by their `app` label."""
    return {o["metadata"]["labels"]["app"]: o for o in _render(overlay)
            if o["kind"] in ("Deployment", "StatefulSet", "Job")}


def _containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]


def _env_names(overlay: str, container: dict) -> set[str]:
    """The environment variables a container gets, Secrets' keys from secrets.example.yaml."""
    config = _get(overlay, "ConfigMap", "trainyard-env")["data"]
    secrets = _example_secrets()
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            assert source["configMapRef"]["name"] == "trainyard-env"
            names |= set(config)
        elif not source["secretRef"].get("optional"):
            names |= set(secrets[source["secretRef"]["name"]]["stringData"])
    return names


def _config(overlay: str) -> dict[str, str]:
    return _get(overlay, "ConfigMap", "trainyard-env")["data"]


def _tag(overlay: str) -> str:
    return _pod(_get(overlay, "Deployment", "trainyard-web"))["containers"][0]["image"].rsplit(":", 1)[1]


# --- rendering --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_it_renders_the_whole_service_and_its_ray_cluster(overlay):
    kinds = {(o["kind"], o["metadata"]["name"]) for o in _render(overlay)}
    assert kinds == {
        ("ServiceAccount", "trainyard-service"), ("ServiceAccount", "trainyard-ray"),
        ("ConfigMap", "trainyard-env"), ("StorageClass", "trainyard-rwx"),
        ("PersistentVolumeClaim", "trainyard-storage"), ("Job", f"trainyard-migrate-{_tag(overlay)}"),
        ("Deployment", "trainyard-web"), ("Service", "trainyard-web"), ("Ingress", "trainyard-web"),
        ("Ingress", "trainyard-uploads"), ("Ingress", "trainyard-events"), ("Deployment", "trainyard-worker"),
        ("StatefulSet", "trainyard-beat"), ("RayCluster", "trainyard"), ("NetworkPolicy", "trainyard-ray"),
        ("NetworkPolicy", "trainyard-web")}
    assert all(o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "trainyard" for o in _render(overlay))


@pytest.mark.skipif(kustomize.kustomize_command() is None, reason="no kustomize or kubectl to compare with")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_small_renderer_gives_what_kustomize_gives(overlay):
    def key(o):
        return o["kind"], o["metadata"]["name"]

    real = {key(o): o for o in kustomize.build_with_kustomize(K8S / "overlays" / overlay)}
    ours = {key(o): o for o in kustomize.render(K8S / "overlays" / overlay)}
    assert real == ours


def test_the_small_renderer_refuses_what_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(kustomize.Unsupported, match="namePrefix"):
        kustomize.render(tmp_path)


# --- schemas ----------------------------------------------------------------------------------------------


def _builtin_objects():
    for overlay in OVERLAYS:
        for obj in _render(overlay):
            if obj["kind"] != "RayCluster":
                yield pytest.param(obj, id=f"{overlay}-{obj['kind']}-{obj['metadata']['name']}")
    for obj in _example_secrets().values():
        yield pytest.param(obj, id=f"secrets.example-{obj['metadata']['name']}")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("obj", list(_builtin_objects()))
def test_each_kubernetes_object_validates_against_its_schema(obj, version):
    # strict: a field the schema does not know (a typo, a field of a newer Kubernetes) fails
    assert kv.validate(obj, version, strict=True) == version


@functools.cache
def _kubernetes_definitions() -> Registry:
    defs = kv.schema_contents(f"kubernetes-json-schema/v{KUBERNETES}.0-local-strict/_definitions.json",
                              KUBERNETES)
    return Resource.from_contents(defs) @ Registry()


def _kubernetes_schema(definition: str) -> dict:
    """A Kubernetes type's strict schema (its $refs resolve in _kubernetes_definitions())."""
    return {"$ref": f"https://kubernetes.io/api/_definitions.json#/$defs/{definition}"}


def _strict(schema):
    """The CRD's schema as the API server applies it with strict field validation: unknown fields refused."""
    if isinstance(schema, dict):
        if "x-trainyard-kubernetes" in schema:
            return _kubernetes_schema(schema["x-trainyard-kubernetes"])
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def _kuberay_validator():
    schema = _strict(yaml.safe_load(KUBERAY_SCHEMA.read_text())["openAPIV3Schema"])
    return jsonschema.Draft202012Validator(schema, registry=_kubernetes_definitions())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ray_cluster_validates_against_the_kuberay_crd(overlay):
    cluster = _get(overlay, "RayCluster")
    assert cluster["apiVersion"] == "ray.io/v1"
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in _kuberay_validator().iter_errors(cluster)]
    assert errors == []


@pytest.mark.parametrize("break_it, expected", [
    (lambda c: c["spec"].update(enableInTreeAutoscalling=True), "'enableInTreeAutoscalling' was unexpected"),
    (lambda c: c["spec"]["workerGroupSpecs"][0].update(maxReplicas="8"), "spec.workerGroupSpecs.0.maxReplicas"),
    (lambda c: c["spec"]["workerGroupSpecs"][0].pop("groupName"), "'groupName' is a required property"),
    (lambda c: c["spec"]["autoscalerOptions"].update(upscalingMode="Fast"), "spec.autoscalerOptions.upscalingMode"),
    # the pod templates: Kubernetes' PodTemplateSpec
    (lambda c: c["spec"]["headGroupSpec"]["template"]["spec"].update(tolerationz=[]), "'tolerationz' was unexpected"),
    (lambda c: c["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0].update(imagePullPolicy=1),
     "containers.0.imagePullPolicy"),
])
def test_the_kuberay_check_refuses_what_the_api_server_would(break_it, expected):
    cluster = copy.deepcopy(_get("gpu", "RayCluster"))
    break_it(cluster)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in _kuberay_validator().iter_errors(cluster)]
    assert any(expected in error for error in errors), errors


def test_the_vendored_crd_subset_names_its_source():
    vendored = yaml.safe_load(KUBERAY_SCHEMA.read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", vendored["kuberay"]["commit"])
    assert vendored["kuberay"]["path"].endswith("crds/ray.io_rayclusters.yaml")


# --- settings ---------------------------------------------------------------------------------------------


def test_the_configmap_and_secrets_hold_exactly_the_env_example_names():
    config = set(_config("cpu"))
    secrets = _example_secrets()
    secret_names = set(secrets["trainyard-env"]["stringData"]) | {"RAY_AUTH_TOKEN"}  # trainyard-ray's `token`
    assert config.isdisjoint(secret_names)
    assert config | secret_names == _example_names()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_and_worker_get_every_setting_and_beat_and_migrate_no_ray_token(overlay):
    workloads = _service_workloads(overlay)
    for app in SERVICE:
        main = _pod(workloads[app])["containers"][0]
        assert _env_names(overlay, main) == _example_names(), app
        token = next(e for e in main["env"] if e["name"] == "RAY_AUTH_TOKEN")["valueFrom"]["secretKeyRef"]
        assert token == {"name": "trainyard-ray", "key": "token"}
    for app in ("trainyard-beat", "trainyard-migrate"):
        for container in _containers(_pod(workloads[app])):
            names = _env_names(overlay, container)
            assert "RAY_AUTH_TOKEN" not in names and names == _example_names() - {"RAY_AUTH_TOKEN"}, app


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_and_key_the_pods_name_is_in_the_secrets_example(overlay):
    secrets = _example_secrets()
    pods = [_pod(w) for w in _service_workloads(overlay).values()] + list(_ray_pods(overlay).values())
    for pod in pods:
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                data = secrets[volume["secret"]["secretName"]]["stringData"]
                assert {item["key"] for item in volume["secret"]["items"]} <= set(data)
        for container in _containers(pod):
            for e in container.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"]
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets
    # the secrets are never part of what `kubectl apply -k` writes (it would reset them to the placeholders)
    assert not any(o["kind"] == "Secret" for o in _render(overlay))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_resource_maxima_match_the_largest_ray_worker_group(overlay):
    """A run that asks more per worker than any pod has would wait for ever; the submit refuses it instead."""
    def limits(pod):
        return pod["containers"][0]["resources"]["limits"]

    workers = [pod for name, pod in _ray_pods(overlay).items() if name != "head"]
    config = _config(overlay)
    assert float(config["TRAINYARD_MAX_CPUS_PER_WORKER"]) == max(float(limits(p)["cpu"]) for p in workers)
    assert float(config["TRAINYARD_MAX_GPUS_PER_WORKER"]) == max(
        float(limits(p).get("nvidia.com/gpu", 0)) for p in workers)


# --- agreement across web, worker, beat and the Ray cluster -----------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_the_one_image_of_the_overlays_variant(overlay):
    pods = [_pod(w) for w in _service_workloads(overlay).values()] + list(_ray_pods(overlay).values())
    containers = [c for pod in pods for c in _containers(pod)]
    assert len(containers) == 3 * 2 + 1 + len(_ray_pods(overlay))  # web, worker, beat (each + init), migrate
    assert {c["image"] for c in containers} == {f"registry.example.com/trainyard:{_tag(overlay)}"}
    assert _tag(overlay).endswith(VARIANT[overlay])


def _dockerfile() -> dict[str, str]:
    text = (ROOT / "infra" / "docker" / "Dockerfile").read_text().split("AS runtime", 1)[1]
    env = re.search(r"^ENV (.*?)(?:\n(?!\s))", text, re.S | re.M).group(1)
    return {"WORKDIR": re.search(r"^WORKDIR (\S+)", text, re.M).group(1),
            "USER": re.search(r"^USER (\S+)", text, re.M).group(1),
            **dict(re.findall(r"([A-Z_]+)=(\S+)", env))}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_as_the_images_user_in_its_folder(overlay):
    image = _dockerfile()
    pods = [_pod(w) for w in _service_workloads(overlay).values()] + list(_ray_pods(overlay).values())
    for pod in pods:
        context = pod["securityContext"]
        assert f"{context['runAsUser']}:{context['runAsGroup']}" == image["USER"] and context["runAsNonRoot"]
        assert {c["workingDir"] for c in _containers(pod)} == {image["WORKDIR"]}
    assert _config(overlay)["TRAINYARD_JOB_PYTHON"] == image["TRAINYARD_JOB_PYTHON"]
    assert _config(overlay)["TRAINYARD_VAR"] == image["TRAINYARD_VAR"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_service_finds_the_head_where_kuberay_serves_it(overlay):
    cluster = _get(overlay, "RayCluster")
    head = _ray_pods(overlay)["head"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in head["ports"]}
    address = urlsplit(_config(overlay)["RAY_ADDRESS"])
    # KubeRay names the head's Service <cluster>-head-svc and gives it the head container's ports
    assert (address.scheme, address.hostname, address.port) == (
        "http", f"{cluster['metadata']['name']}-head-svc", ports["dashboard"])
    assert int(_config(overlay)["TRAINYARD_SERVE_PORT"]) == ports["serve"]
    assert _config(overlay)["TRAINYARD_SERVE_URL"] == ""
    env = {e["name"]: e.get("value") for e in head["env"]}
    assert env["TRAINYARD_SERVE_HOST"] == "0.0.0.0"  # the proxy on the pod's address, the policy guards it
    assert cluster["spec"]["rayVersion"] == __import__("ray").__version__


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_mounts_the_storage_and_scratch_where_the_settings_say(overlay):
    config = _config(overlay)
    claim = _get(overlay, "PersistentVolumeClaim", "trainyard-storage")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert _get(overlay, "StorageClass", claim["spec"]["storageClassName"])
    workloads = _service_workloads(overlay)
    pods = {app: _pod(workloads[app]) for app in SERVICE} | _ray_pods(overlay)
    for name, pod in pods.items():
        container = pod["containers"][0]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
        assert mounts[config["TRAINYARD_STORAGE"]]["persistentVolumeClaim"]["claimName"] == "trainyard-storage", name
        if name in SERVICE:
            continue
        assert "emptyDir" in mounts[config["TRAINYARD_SCRATCH"]], name
        # the Ray pods read the two paths from the ConfigMap itself, so they cannot drift
        refs = {e["name"]: e["valueFrom"]["configMapKeyRef"] for e in container["env"] if "valueFrom" in e}
        assert refs == {key: {"name": "trainyard-env", "key": key}
                        for key in ("TRAINYARD_STORAGE", "TRAINYARD_SCRATCH")}, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ray_reads_its_token_from_a_read_only_file_never_the_environment(overlay):
    for name, pod in _ray_pods(overlay).items():
        container = pod["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["RAY_AUTH_MODE"] == "token" and "RAY_AUTH_TOKEN" not in env, name
        assert not any("secretRef" in s and not s["secretRef"].get("optional") for s in container.get("envFrom", []))
        token_dir, token_file = env["RAY_AUTH_TOKEN_PATH"].rsplit("/", 1)
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == token_dir)
        assert mount.get("readOnly") is True
        secret = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
        assert secret["secretName"] == "trainyard-ray" and secret["items"] == [{"key": "token", "path": token_file}]
        # readable by the image's user through its group (fsGroup), by nobody else
        assert secret["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
        if name != "head":  # the head's account token serves KubeRay's autoscaler sidecar
            assert pod["automountServiceAccountToken"] is False, name
    # the autoscaler sidecar speaks to the GCS as well: the same file, from the head pod's volume
    options = _get(overlay, "RayCluster")["spec"]["autoscalerOptions"]
    head = _ray_pods(overlay)["head"]
    head_env = {e["name"]: e["value"] for e in head["containers"][0]["env"] if "value" in e}
    assert {e["name"]: e["value"] for e in options["env"]} == {
        k: head_env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    head_mounts = [m for m in head["containers"][0]["volumeMounts"] if m["name"] == "ray-token"]
    assert options["volumeMounts"] == head_mounts


# --- the Ray cluster --------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ray_cluster_autoscales_its_worker_groups(overlay):
    spec = _get(overlay, "RayCluster")["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # no training beside the drivers
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    assert list(groups) == (["cpu"] if overlay == "cpu" else ["cpu", "gpu"])
    for group in groups.values():
        # the autoscaler owns `replicas`: a release's `kubectl apply` must not reset a busy group
        assert "replicas" not in group and 0 <= group["minReplicas"] < group["maxReplicas"]


def test_the_gpu_group_tolerates_gpu_nodes_and_asks_for_gpus():
    pod = _ray_pods("gpu")["gpu"]
    resources = pod["containers"][0]["resources"]
    assert int(resources["limits"]["nvidia.com/gpu"]) >= 1
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert not any("nvidia.com/gpu" in str(p) for n, p in _ray_pods("gpu").items() if n != "gpu")
    assert "nvidia.com/gpu" not in str(_get("cpu", "RayCluster"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_ray_pods_and_the_service_reach_ray_and_only_the_ingress_reaches_the_web(overlay):
    cluster = _get(overlay, "RayCluster")
    policy = _get(overlay, "NetworkPolicy", "trainyard-ray")["spec"]
    assert policy["podSelector"] == {"matchLabels": {"ray.io/cluster": cluster["metadata"]["name"]}}
    assert policy["policyTypes"] == ["Ingress"]
    assert all(rule.get("from") for rule in policy["ingress"])  # no rule open to everyone
    peers = [rule for rule in policy["ingress"] if "ports" not in rule]
    assert [r["from"] for r in peers] == [[{"podSelector": {"matchLabels": {"ray.io/cluster": "trainyard"}}}]]
    service = [rule for rule in policy["ingress"] if "ports" in rule]
    assert [r["from"] for r in service] == [[{"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "In", "values": list(SERVICE)}]}}]]
    workloads = _service_workloads(overlay)
    assert [workloads[app]["spec"]["template"]["metadata"]["labels"]["app"] for app in SERVICE] == list(SERVICE)
    head_ports = {p["name"]: p["containerPort"] for p in _ray_pods(overlay)["head"]["containers"][0]["ports"]}
    # the Jobs API and Serve's proxy; never the GCS, which the service does not use
    assert sorted(p["port"] for r in service for p in r["ports"]) == sorted(
        [head_ports["serve"], head_ports["dashboard"]])
    assert head_ports["gcs-server"] not in [p["port"] for r in service for p in r["ports"]]
    web = _get(overlay, "NetworkPolicy", "trainyard-web")["spec"]
    assert web["podSelector"] == {"matchLabels": {"app": "trainyard-web"}}
    assert [p["port"] for r in web["ingress"] for p in r["ports"]] == [
        _pod(workloads["trainyard-web"])["containers"][0]["ports"][0]["containerPort"]]
    assert all("namespaceSelector" in peer for r in web["ingress"] for peer in r["from"])


# --- processes --------------------------------------------------------------------------------------------


def _command(container: dict) -> list[str]:
    command = container["command"]
    return shlex.split(command[2]) if command[:2] == ["sh", "-c"] else command


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_container_starts_something_that_exists(overlay):
    import importlib

    from django.core.management import get_commands

    workloads = _service_workloads(overlay)
    web = _command(_pod(workloads["trainyard-web"])["containers"][0])
    module, _, attr = web[3].partition(":")
    assert web[:3] == ["python", "-m", "uvicorn"] and callable(getattr(importlib.import_module(module), attr))
    port = _pod(workloads["trainyard-web"])["containers"][0]["ports"][0]["containerPort"]
    assert web[web.index("--port") + 1] == str(port) and "--proxy-headers" in web
    for app, role in (("trainyard-worker", "worker"), ("trainyard-beat", "beat")):
        cmd = _command(_pod(workloads[app])["containers"][0])
        assert cmd[:4] == ["python", "-m", "celery", "-A"] and cmd[5] == role
        celery_app = importlib.import_module(cmd[4]).celery_app
        if role == "beat":
            assert "backend.experiments.tasks.reconcile_runs" in {
                e["task"] for e in celery_app.conf.beat_schedule.values()}
            schedule = cmd[cmd.index("--schedule") + 1]
            assert schedule.startswith(_config(overlay)["TRAINYARD_VAR"] + "/")
    migrate = _command(_pod(workloads["trainyard-migrate"])["containers"][0])
    assert migrate[:3] == ["python", "manage.py", "migrate"] and "migrate" in get_commands()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_exactly_one_beat_and_a_migrate_job_per_release_that_the_pods_wait_for(overlay):
    beats = [o for o in _service_workloads(overlay).values() if "beat" in _command(_pod(o)["containers"][0])]
    assert len(beats) == 1 and beats[0]["kind"] == "StatefulSet" and beats[0]["spec"]["replicas"] == 1
    job = _service_workloads(overlay)["trainyard-migrate"]
    assert job["metadata"]["name"] == f"trainyard-migrate-{_tag(overlay)}"
    assert len(job["metadata"]["name"]) <= 63
    assert _pod(job)["restartPolicy"] == "Never"
    for app in (*SERVICE, "trainyard-beat"):
        init = _pod(_service_workloads(overlay)[app])["initContainers"]
        assert any("manage.py migrate --check" in " ".join(c["command"]) for c in init), app


# --- the way in -------------------------------------------------------------------------------------------


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", size.lower()).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[unit]


def _seconds(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([sm]?)", value).groups()
    return int(number) * (60 if unit == "m" else 1)


def _ingress_for(overlay: str, url: str) -> dict:
    """The Ingress whose path serves ``url`` (Exact before the longest Prefix, as ingress-nginx matches)."""
    best, rank = None, None
    for ingress in (o for o in _render(overlay) if o["kind"] == "Ingress"):
        for path in ingress["spec"]["rules"][0]["http"]["paths"]:
            if path["pathType"] == "Exact" and url == path["path"]:
                score = (1, len(path["path"]))
            elif path["pathType"] == "Prefix" and (url + "/").startswith(path["path"].rstrip("/") + "/"):
                score = (0, len(path["path"]))
            else:
                continue
            if rank is None or score > rank:
                best, rank = ingress, score
    assert best is not None, url
    return best


def _nginx_locations() -> dict[str, str]:
    conf = (ROOT / "infra" / "nginx" / "trainyard.conf").read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"location ([^{]+?) \{([^}]*)\}", conf)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_has_the_nginx_sites_settings_for_events_and_uploads(overlay):
    nginx = _nginx_locations()
    annotation = "nginx.ingress.kubernetes.io/"
    events = _ingress_for(overlay, reverse("run-events", kwargs={"pk": "3f1c2a8e-0000-4000-8000-000000000001"}))
    notes = events["metadata"]["annotations"]
    site = nginx["~ ^/runs/[^/]+/events$"]
    assert "proxy_buffering off;" in site and notes[annotation + "proxy-buffering"] == "off"
    read = re.search(r"proxy_read_timeout (\S+);", site).group(1)
    assert int(notes[annotation + "proxy-read-timeout"]) >= _seconds(read)
    max_upload = int(_config(overlay)["TRAINYARD_DATASET_UPLOAD_MAX_BYTES"])
    for url in (reverse("dataset-list"), reverse("datasets")):
        notes = _ingress_for(overlay, url)["metadata"]["annotations"]
        site = nginx[f"= {url}"]
        assert "proxy_request_buffering off;" in site and notes[annotation + "proxy-request-buffering"] == "off"
        body = re.search(r"client_max_body_size (\S+);", site).group(1)
        assert _bytes(notes[annotation + "proxy-body-size"]) == _bytes(body) >= max_upload
    # a spec submitted to the API (and a reporter's batch): the API's own limit is 4 MiB a request
    notes = _ingress_for(overlay, reverse("run-list"))["metadata"]["annotations"]
    assert _bytes(notes[annotation + "proxy-body-size"]) >= 4 * 1024 ** 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_hosts_probes_and_public_url_agree_with_the_django_settings(overlay):
    config = _config(overlay)
    allowed = config["DJANGO_ALLOWED_HOSTS"].split(",")
    hosts = {r["host"] for o in _render(overlay) if o["kind"] == "Ingress" for r in o["spec"]["rules"]}
    assert len(hosts) == 1 and hosts <= set(allowed)
    host = hosts.pop()
    assert config["DJANGO_CSRF_TRUSTED_ORIGINS"] == f"https://{host}"
    assert urlsplit(config["TRAINYARD_PUBLIC_URL"]).hostname == host  # Ray's reporters come in by the Ingress
    assert config["TRAINYARD_BEHIND_TLS"] == "true"
    web = _pod(_get(overlay, "Deployment", "trainyard-web"))["containers"][0]
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = web[probe]["httpGet"]
        headers = {h["name"]: h["value"] for h in get["httpHeaders"]}
        assert get["path"] == path and get["port"] == "http"
        # Django answers 400 to a Host it does not allow, and redirects plain http behind TLS
        assert headers["Host"] in allowed and headers["X-Forwarded-Proto"] == "https"
    # /readyz gives each of its checks TRAINYARD_READYZ_TIMEOUT_SECONDS (side by side): the probe waits longer
    assert web["readinessProbe"]["timeoutSeconds"] > float(config["TRAINYARD_READYZ_TIMEOUT_SECONDS"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_can_scrape_the_worker_with_the_token(overlay):
    config = _config(overlay)
    worker = _pod(_get(overlay, "Deployment", "trainyard-worker"))["containers"][0]
    assert [p["containerPort"] for p in worker["ports"] if p["name"] == "metrics"] == [
        int(config["TRAINYARD_WORKER_METRICS_PORT"])]
    # an address beyond the loopback needs the token (the worker refuses to start without it)
    assert config["TRAINYARD_WORKER_METRICS_ADDR"] == "0.0.0.0"
    assert "TRAINYARD_METRICS_TOKEN" in _env_names(overlay, worker) - set(config)
