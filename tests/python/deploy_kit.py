"""Reads the deployment kit under deploy/ for tests/tests/deploy_kit.rs.

    python deploy_kit.py REPO_ROOT KUBERNETES_VERSION...

Prints one JSON object on stdout:

    {"files": [{"path": "deploy/...", "documents": [...]} | {"path": ..., "error": "..."}],
     "builds": [{"kustomization": "deploy/k8s/base", "objects": [
                    {"origin": "deploy/k8s/base/gateway.yaml", "object": {...},
                     "validation": {"1.31": {"status": "valid" | "invalid" | "no-schema",
                                             "message": "..."}}}]}
                | {"kustomization": ..., "error": "..."}]}

- Every *.yaml / *.yml file under deploy/ is parsed (all documents).
- Every directory holding a kustomization.yaml is built with the subset of
  kustomize the kit uses: `resources` (files and directories),
  `configMapGenerator` with `files`, `namespace`, and `patches` with an
  inline `patch` and a `target` of kind and name, merged as maps (a list in
  a patch replaces the list). Anything else is an error, so the kit cannot
  silently use a feature this builder ignores.
- Every built object is validated offline against the Kubernetes JSON
  schemas bundled in the kubernetes-validate package (strict: unknown
  fields are errors), for each version asked for. Kinds the schemas do not
  know (custom resources) are reported as "no-schema" for the Rust side to
  check structurally.
"""

import copy
import json
import pathlib
import sys

import kubernetes_validate
import yaml

KUSTOMIZATION = "kustomization.yaml"
SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "configMapGenerator", "namespace", "patches"}


class BuildError(Exception):
    pass


def load_documents(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def merge(base, patch):
    """Map merge: keys of `patch` win, maps merged recursively, lists replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(patch)


def build(directory, root, seen=()):
    """The objects of the kustomization in `directory`, as (origin, object)."""
    directory = directory.resolve()
    if directory in seen:
        raise BuildError(f"{directory}: kustomization cycle")
    k_path = directory / KUSTOMIZATION
    if not k_path.is_file():
        raise BuildError(f"{directory}: no {KUSTOMIZATION}")
    docs = load_documents(k_path)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise BuildError(f"{k_path}: expected one mapping")
    k = docs[0]
    unknown = set(k) - SUPPORTED_KEYS
    if unknown:
        raise BuildError(f"{k_path}: keys this builder does not support: {sorted(unknown)}")
    if k.get("kind") != "Kustomization":
        raise BuildError(f"{k_path}: kind is not Kustomization")

    objects = []
    for entry in k.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects.extend(build(target, root, seen + (directory,)))
        elif target.is_file():
            origin = target.relative_to(root).as_posix()
            objects.extend((origin, doc) for doc in load_documents(target))
        else:
            raise BuildError(f"{k_path}: resource {entry} does not exist")

    for generator in k.get("configMapGenerator", []):
        extra = set(generator) - {"name", "files"}
        if extra:
            raise BuildError(f"{k_path}: configMapGenerator keys not supported: {sorted(extra)}")
        data = {}
        for name in generator.get("files", []):
            path = (directory / name).resolve()
            if directory not in path.parents:
                raise BuildError(f"{k_path}: {name} is outside the kustomization root")
            if not path.is_file():
                raise BuildError(f"{k_path}: generator file {name} does not exist")
            data[path.name] = path.read_text(encoding="utf-8")
        origin = k_path.relative_to(root).as_posix()
        objects.append((origin, {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": generator["name"]},
            "data": data,
        }))

    if "namespace" in k:
        for _, obj in objects:
            if obj.get("kind") != "Namespace":
                obj.setdefault("metadata", {})["namespace"] = k["namespace"]

    for patch in k.get("patches", []):
        extra = set(patch) - {"target", "patch"}
        if extra or "patch" not in patch:
            raise BuildError(f"{k_path}: only inline `patch` with `target` is supported")
        target = patch.get("target", {})
        if set(target) - {"kind", "name"}:
            raise BuildError(f"{k_path}: patch targets by kind and name only")
        body = yaml.safe_load(patch["patch"])
        matched = 0
        for i, (origin, obj) in enumerate(objects):
            if obj.get("kind") == target.get("kind") and \
                    obj.get("metadata", {}).get("name") == target.get("name"):
                objects[i] = (origin, merge(obj, body))
                matched += 1
        if matched == 0:
            raise BuildError(f"{k_path}: patch target {target} matches no object")
    return objects


_validated = {}


def validate(obj, versions):
    """Validation results per version; an object built by several
    kustomizations (the base inside each variant) is validated once."""
    key = json.dumps(obj, sort_keys=True)
    if key not in _validated:
        _validated[key] = validate_uncached(obj, versions)
    return _validated[key]


def validate_uncached(obj, versions):
    results = {}
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
            results[version] = {"status": "valid", "message": ""}
        except kubernetes_validate.SchemaNotFoundError as e:
            results[version] = {"status": "no-schema", "message": e.message}
        except kubernetes_validate.ValidationError as e:
            where = "/".join(str(p) for p in e.path)
            results[version] = {"status": "invalid", "message": f"{where}: {e.message}"}
    return results


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    versions = sys.argv[2:]
    deploy = root / "deploy"
    files = []
    kustomizations = []
    for path in sorted(p for p in deploy.rglob("*") if p.suffix in (".yaml", ".yml")):
        rel = path.relative_to(root).as_posix()
        try:
            files.append({"path": rel, "documents": load_documents(path)})
        except yaml.YAMLError as e:
            files.append({"path": rel, "error": str(e)})
        if path.name == KUSTOMIZATION:
            kustomizations.append(path.parent)

    builds = []
    for directory in kustomizations:
        rel = directory.relative_to(root).as_posix()
        try:
            objects = build(directory, root)
        except (BuildError, yaml.YAMLError) as e:
            builds.append({"kustomization": rel, "error": str(e)})
            continue
        builds.append({"kustomization": rel, "objects": [
            {"origin": origin, "object": obj, "validation": validate(obj, versions)}
            for origin, obj in objects
        ]})
    json.dump({"files": files, "builds": builds}, sys.stdout)


if __name__ == "__main__":
    main()
