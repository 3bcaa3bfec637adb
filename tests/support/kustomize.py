"""Rendering infra/k8s's kustomizations for the tests: with the real kustomize where one is installed
(`kustomize`, or the one built into `kubectl kustomize`), else with `render`, a small renderer of the subset of
kustomize that infra/k8s uses.

`render` is not kustomize. It knows these kustomization fields and refuses every other one:
- `resources`: YAML files (several documents each) and folders holding a kustomization;
- `labels`: `pairs` added to each object's `metadata.labels` (neither selectors nor templates);
- `patches`: a JSON patch (RFC 6902: add, replace, remove) with a `target` of kind/name, or a strategic merge of
  a whole object (maps merged key by key; lists of maps with a `name` merged by name, other lists replaced);
- `images`: `newName`/`newTag` for every `image` in a `containers` or `initContainers` list, wherever it lies
  (kustomize finds them in custom resources too);
- `replacements`: a source field (`[name=x]` selects a list item) copied into target fields, whole or one
  `delimiter`-separated part of them (`index`).
Where kubectl is installed, tests/unit/infra/test_k8s.py checks that both give the same objects.
"""
from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import yaml

KNOWN_FIELDS = {"apiVersion", "kind", "resources", "labels", "patches", "images", "replacements"}


class Unsupported(ValueError):
    """The kustomization uses something `render` does not implement."""


def kustomize_command() -> list[str] | None:
    """The command of an installed kustomize (`kustomize build` or `kubectl kustomize`), or None."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def build_with_kustomize(path: Path) -> list[dict]:
    """The objects the installed kustomize renders from the kustomization in ``path``."""
    command = kustomize_command()
    if command is None:
        raise RuntimeError("no kustomize or kubectl on PATH")
    out = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def build(path: Path) -> tuple[list[dict], str]:
    """The objects of the kustomization in ``path`` and what rendered them ('kustomize' or 'render')."""
    if kustomize_command() is not None:
        return build_with_kustomize(path), "kustomize"
    return render(path), "render"


def render(path: Path) -> list[dict]:
    """Render the kustomization in folder ``path`` (the subset described in the module's docstring)."""
    path = Path(path)
    spec = yaml.safe_load((path / "kustomization.yaml").read_text())
    unknown = set(spec) - KNOWN_FIELDS
    if unknown:
        raise Unsupported(f"{path}: kustomization fields {sorted(unknown)} are not implemented")
    objects: list[dict] = []
    for entry in spec.get("resources", []):
        target = path / entry
        if target.is_dir():
            objects += render(target)
        else:
            objects += [doc for doc in yaml.safe_load_all(target.read_text()) if doc]
    for patch in spec.get("patches", []):
        _apply_patch(path, objects, patch)
    for entry in spec.get("labels", []):
        if entry.get("includeSelectors") or entry.get("includeTemplates"):
            raise Unsupported("labels: only metadata labels are implemented")
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    for image in spec.get("images", []):
        for obj in objects:
            _set_images(obj, image)
    for replacement in spec.get("replacements", []):
        _replace(objects, replacement)
    return objects


def _selects(obj: dict, target: dict) -> bool:
    unknown = set(target) - {"group", "version", "kind", "name"}
    if unknown:
        raise Unsupported(f"target fields {sorted(unknown)} are not implemented")
    group, _, version = obj["apiVersion"].rpartition("/")
    wanted = {"group": group, "version": version, "kind": obj["kind"], "name": obj["metadata"]["name"]}
    return all(wanted[key] == value for key, value in target.items())


def _apply_patch(path: Path, objects: list[dict], patch: dict) -> None:
    body = yaml.safe_load((path / patch["path"]).read_text() if "path" in patch else patch["patch"])
    target = patch.get("target")
    if isinstance(body, list):  # RFC 6902
        if not target:
            raise Unsupported("a JSON patch needs a target")
        matched = [obj for obj in objects if _selects(obj, target)]
        if not matched:
            raise ValueError(f"patch target {target} matches nothing")
        for obj in matched:
            for op in body:
                _json_patch(obj, op)
        return
    target = target or {"kind": body["kind"], "name": body["metadata"]["name"]}
    matched = [obj for obj in objects if _selects(obj, target)]
    if not matched:
        raise ValueError(f"patch target {target} matches nothing")
    for obj in matched:
        merged = _merge(obj, body)
        obj.clear()
        obj.update(merged)


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.lstrip("/").split("/")]


def _json_patch(obj: dict, op: dict) -> None:
    *parents, last = _pointer(op["path"])
    node = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    kind = op["op"]
    if kind == "add":
        value = copy.deepcopy(op["value"])
        if isinstance(node, list):
            node.append(value) if last == "-" else node.insert(int(last), value)
        else:
            node[last] = value
    elif kind == "replace":
        node[int(last) if isinstance(node, list) else last] = copy.deepcopy(op["value"])
    elif kind == "remove":
        del node[int(last) if isinstance(node, list) else last]
    else:
        raise Unsupported(f"JSON patch op {kind!r} is not implemented")


def _merge(base, patch):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (isinstance(base, list) and isinstance(patch, list) and base and patch
            and all(isinstance(item, dict) and "name" in item for item in base + patch)):
        out = [copy.deepcopy(item) for item in base]
        index = {item["name"]: i for i, item in enumerate(out)}
        for item in patch:
            if item["name"] in index:
                out[index[item["name"]]] = _merge(out[index[item["name"]]], item)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def _image_name(image: str) -> str:
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def _set_images(node, image: dict) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    if isinstance(container.get("image"), str) and _image_name(container["image"]) == image["name"]:
                        tag = container["image"][len(image["name"]):]
                        name = image.get("newName", image["name"])
                        container["image"] = name + (":" + image["newTag"] if "newTag" in image else tag)
            _set_images(value, image)
    elif isinstance(node, list):
        for item in node:
            _set_images(item, image)


def _field_parts(field_path: str) -> list[str]:
    return field_path.split(".")


def _walk(node, parts: list[str]):
    for part in parts:
        if part.startswith("[") and part.endswith("]"):
            key, _, value = part[1:-1].partition("=")
            node = next(item for item in node if item.get(key) == value)
        else:
            node = node[part]
    return node


def _replace(objects: list[dict], replacement: dict) -> None:
    source = replacement["source"]
    obj = next(o for o in objects if _selects(o, {k: source[k] for k in ("kind", "name") if k in source}))
    value = _walk(obj, _field_parts(source["fieldPath"]))
    options = source.get("options") or {}
    if options:
        value = value.split(options["delimiter"])[options.get("index", 0)]
    for target in replacement["targets"]:
        for obj in [o for o in objects if _selects(o, target["select"])]:
            for field_path in target["fieldPaths"]:
                *parents, last = _field_parts(field_path)
                parent = _walk(obj, parents)
                new = value
                options = target.get("options") or {}
                if options:
                    parts = str(parent[last]).split(options["delimiter"])
                    parts[options.get("index", 0)] = value
                    new = options["delimiter"].join(parts)
                parent[last] = new
