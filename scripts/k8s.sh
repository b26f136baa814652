#!/usr/bin/env bash
# Validates the Kubernetes manifests in docker/k8s/, offline once installed:
#   - built-in kinds with PyPI kubernetes-validate in strict mode (unknown
#     fields are errors) against Kubernetes $K8S_VERSION;
#   - the KEDA and Prometheus-operator kinds against strict JSON schemas
#     generated from their CRD types (npm @kubernetes-models/keda and
#     @kubernetes-models/prometheus-operator, pinned by
#     docker/k8s/schemas/package-lock.json) into .build/k8s;
#   - that each check rejects a manifest with an unknown field, and the
#     rules the manifests must keep (scripts/k8s_check.py).
#
#   scripts/k8s.sh install   installs the validators (CI does this first)
#   scripts/k8s.sh check     installs what is missing, then validates
set -euo pipefail
cd "$(dirname "$0")/.."
K8S_VERSION=${K8S_VERSION:-1.33.0}
out=.build/k8s
lock=docker/k8s/schemas/package-lock.json

install() {
  scripts/pyenv.sh >/dev/null
  if [ -f "$out/ServiceMonitor.json" ] && cmp -s "$lock" "$out/package-lock.json"; then
    return
  fi
  rm -rf "$out" && mkdir -p "$out"
  cp docker/k8s/schemas/{package.json,package-lock.json,types.ts,tsconfig.json} "$out/"
  (cd "$out" && npm ci --silent --no-audit --no-fund)
  for kind in ScaledObject ServiceMonitor; do
    (cd "$out" && node_modules/.bin/ts-json-schema-generator -p types.ts -f tsconfig.json -t "$kind" -o "$kind.json")
  done
}

case "${1:-check}" in
install) install ;;
check)
  install
  "$(scripts/pyenv.sh)" scripts/k8s_check.py --kubernetes "$K8S_VERSION" --schemas "$out" docker/k8s/*.yaml
  ;;
*) echo "usage: k8s.sh install|check" >&2; exit 2 ;;
esac
