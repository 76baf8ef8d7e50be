/**
 * Test support: validates rendered objects against the official Kubernetes OpenAPI schemas
 * (kubernetes-models) and prometheus-operator's CRD schemas (@kubernetes-models/prometheus-operator).
 * Both are devDependencies: only tests import this module; the CLI never does.
 * The schemas check types, enums and required fields; unknown fields are caught by the real API
 * server tests (server-side apply with strict field validation).
 */
import {
  PodMonitor,
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { KubeObject } from './render-types.js';

type Validator = (data: unknown) => void;

function model<T>(Type: new (data: never) => T & { validate(): void }): Validator {
  return (data) => new Type(data as never).validate();
}

const VALIDATORS: Record<string, Validator> = {
  'v1/ConfigMap': model(ConfigMap),
  'v1/PersistentVolumeClaim': model(PersistentVolumeClaim),
  'v1/Pod': model(Pod),
  'v1/Secret': model(Secret),
  'v1/Service': model(Service),
  'v1/ServiceAccount': model(ServiceAccount),
  'apps/v1/Deployment': model(Deployment),
  'apps/v1/StatefulSet': model(StatefulSet),
  'batch/v1/CronJob': model(CronJob),
  'batch/v1/Job': model(Job),
  'networking.k8s.io/v1/NetworkPolicy': model(NetworkPolicy),
  'policy/v1/PodDisruptionBudget': model(PodDisruptionBudget),
  'rbac.authorization.k8s.io/v1/Role': model(Role),
  'rbac.authorization.k8s.io/v1/RoleBinding': model(RoleBinding),
  'monitoring.coreos.com/v1/PodMonitor': model(PodMonitor),
  'monitoring.coreos.com/v1/ServiceMonitor': model(ServiceMonitor),
  'monitoring.coreos.com/v1/PrometheusRule': model(PrometheusRule),
};

/** Throws (naming the object) when an object does not validate, or is of a kind with no schema here. */
export function validateObject(object: KubeObject): void {
  const key = `${object.apiVersion}/${object.kind}`;
  const validate = VALIDATORS[key];
  if (!validate) throw new Error(`no schema for ${key} (${object.metadata.name})`);
  try {
    validate(JSON.parse(JSON.stringify(object)));
  } catch (error) {
    throw new Error(`${key} ${object.metadata.name} does not validate: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
