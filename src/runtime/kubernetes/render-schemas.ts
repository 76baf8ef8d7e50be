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

/** cert-manager publishes no model package: the fields we render, checked as its CRD types them. */
const CERTIFICATE_USAGES = new Set(['server auth', 'client auth', 'digital signature', 'key encipherment']);
function certificate(data: unknown): void {
  const spec = (data as { spec?: Record<string, unknown> }).spec;
  const fail = (why: string) => {
    throw new Error(`spec.${why}`);
  };
  if (!spec) return fail('is missing');
  if (typeof spec['secretName'] !== 'string' || spec['secretName'] === '') fail('secretName must be a name');
  const issuer = spec['issuerRef'] as Record<string, unknown> | undefined;
  if (typeof issuer?.['name'] !== 'string') fail('issuerRef.name is required');
  for (const key of ['kind', 'group'] as const) {
    if (issuer?.[key] !== undefined && typeof issuer[key] !== 'string')
      fail(`issuerRef.${key} must be a string`);
  }
  for (const key of ['dnsNames', 'ipAddresses', 'usages'] as const) {
    const list = spec[key];
    if (list !== undefined && (!Array.isArray(list) || !list.every((v) => typeof v === 'string'))) {
      fail(`${key} must be a list of strings`);
    }
  }
  for (const usage of (spec['usages'] as string[] | undefined) ?? []) {
    if (!CERTIFICATE_USAGES.has(usage)) fail(`usages: unknown '${usage}'`);
  }
  for (const key of ['duration', 'renewBefore'] as const) {
    const d = spec[key];
    if (d !== undefined && (typeof d !== 'string' || !/^(\d+h)?(\d+m)?(\d+s)?$/.test(d)))
      fail(`${key}: not a duration`);
  }
  if (typeof spec['commonName'] === 'string' && spec['commonName'].length > 64)
    fail('commonName longer than 64');
  if (!spec['commonName'] && !spec['dnsNames'] && !spec['ipAddresses'])
    fail('needs commonName, dnsNames or ipAddresses');
}

const VALIDATORS: Record<string, Validator> = {
  'cert-manager.io/v1/Certificate': certificate,
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
