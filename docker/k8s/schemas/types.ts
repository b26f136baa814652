// The custom kinds docker/k8s/ uses, as their CRDs define them (the npm
// packages @kubernetes-models/keda and @kubernetes-models/prometheus-operator
// are generated from KEDA's and the Prometheus operator's CRDs).
// scripts/k8s.sh turns each into a strict JSON schema (no unknown fields).
import type { IScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import type { IServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
export type ScaledObject = IScaledObject;
export type ServiceMonitor = IServiceMonitor;
