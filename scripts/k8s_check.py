"""Strict, offline validation of Chorus's Kubernetes manifests (run by
scripts/k8s.sh). Built-in kinds go through kubernetes-validate in strict
mode; the KEDA and Prometheus-operator kinds through the strict JSON schemas
generated from their CRD types. Every document is then validated once more
with an unknown field added, which must fail, so a check that accepts
anything is caught. Last, the rules the manifests must keep together:

- every queue is taken by exactly one worker pool;
- a worker pod's terminationGracePeriodSeconds is above
  worker.shutdown_grace_ms;
- every Deployment is covered by a ScaledObject if it is a worker pool, the
  vector owner never scales past one replica, and the API has readiness on
  /readyz and liveness on /healthz;
- the migration is a Job, and there is a PodDisruptionBudget and a
  ServiceMonitor.
"""

import argparse
import copy
import json
import pathlib
import sys

import jsonschema
import yaml
from kubernetes_validate import utils

QUEUES = {"chat", "knowledge", "embed", "search", "tool", "webhook", "maintenance"}
VECTOR_QUEUES = {"embed", "search"}


def check(doc, version, custom):
    """Raises when `doc` is not valid for its kind."""
    kind = doc.get("kind")
    if kind in custom:
        jsonschema.validate(doc, custom[kind])
    else:
        utils.validate(doc, version, strict=True)


def with_unknown_field(doc):
    bad = copy.deepcopy(doc)
    target = bad["spec"] if isinstance(bad.get("spec"), dict) else bad
    target["chorusNoSuchField"] = True
    return bad


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def rules(docs):
    """The manifests' cross-document rules; returns the problems found."""
    problems = []
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    config = {}
    for cm in by_kind.get("ConfigMap", []):
        config.update(cm.get("data", {}))
    grace_ms = int(config.get("CHORUS__WORKER__SHUTDOWN_GRACE_MS", "20000"))
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in by_kind.get("ScaledObject", [])}
    taken = []
    for dep in by_kind.get("Deployment", []):
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]["spec"]
        container = pod["containers"][0]
        if container.get("command", [None])[0] == "chorus-worker":
            queues = set((env_of(container).get("CHORUS__WORKER__QUEUES") or ",".join(sorted(QUEUES))).split(","))
            taken.extend(queues)
            if pod.get("terminationGracePeriodSeconds", 30) * 1000 <= grace_ms:
                problems.append(f"{name}: terminationGracePeriodSeconds is not above worker.shutdown_grace_ms")
            if name not in scaled:
                problems.append(f"{name}: no ScaledObject scales this worker pool")
            elif queues & VECTOR_QUEUES and scaled[name]["spec"].get("maxReplicaCount", 100) > 1:
                problems.append(f"{name}: the vector owner must stay one replica (embedded store)")
        if container.get("command", [None])[:2] == ["chorus-api", "serve"]:
            ready = container.get("readinessProbe", {}).get("httpGet", {}).get("path")
            live = container.get("livenessProbe", {}).get("httpGet", {}).get("path")
            if (ready, live) != ("/readyz", "/healthz"):
                problems.append(f"{name}: the API needs readiness on /readyz and liveness on /healthz")
    if sorted(taken) != sorted(QUEUES):
        problems.append(f"worker pools must take every queue once; they take {sorted(taken)}")
    migrations = [j for j in by_kind.get("Job", []) if j["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "migrate"]
    for kind, present in [("migration Job", migrations), ("PodDisruptionBudget", by_kind.get("PodDisruptionBudget")),
                          ("ServiceMonitor", by_kind.get("ServiceMonitor"))]:
        if not present:
            problems.append(f"no {kind}")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubernetes", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    custom = {k: json.loads((pathlib.Path(args.schemas) / f"{k}.json").read_text()) for k in ("ScaledObject", "ServiceMonitor")}
    failures, docs = 0, []
    for name in args.files:
        for doc in yaml.safe_load_all(pathlib.Path(name).read_text()):
            if not doc:
                continue
            docs.append(doc)
            what = f"{name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            try:
                check(doc, args.kubernetes, custom)
            except Exception as e:  # noqa: BLE001 - every failure is reported alike
                failures += 1
                print(f"INVALID {what}: {getattr(e, 'message', e)}")
                continue
            try:
                check(with_unknown_field(doc), args.kubernetes, custom)
                failures += 1
                print(f"NOT STRICT {what}: an unknown field was accepted")
            except Exception:  # noqa: BLE001 - the rejection is what we want
                print(f"valid {what} (strict)")
    for p in rules(docs):
        failures += 1
        print(f"RULE {p}")
    print(f"k8s: {len(docs)} documents against Kubernetes {args.kubernetes}, {failures} problems")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
