/**
 * The one door to a Kubernetes API server: finding the kubeconfig as kubectl does, and turning
 * the client library's exceptions into errors that name the object and the server's reason.
 */
import { ApiException, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { InputError, StewardError } from '../../errors.js';

/** A Kubernetes object as we render and send it: plain data, kind and name always set. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    generation?: number;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** Where to find the cluster: as kubectl's --kubeconfig and --context. */
export interface KubeTarget {
  /** A kubeconfig file; default: $KUBECONFIG (several, colon-separated), ~/.kube/config, in-cluster. */
  readonly kubeconfig?: string;
  /** A context of the kubeconfig; default: its current-context. */
  readonly context?: string;
}

/** Loads the kubeconfig as kubectl does and checks that it names a cluster. */
export function loadKubeConfig(target: KubeTarget = {}): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (target.kubeconfig) kc.loadFromFile(target.kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    throw new InputError(
      `cannot read the kubeconfig ${target.kubeconfig ?? process.env['KUBECONFIG'] ?? '~/.kube/config'}: ${(error as Error).message}`,
      { hint: 'pass --kubeconfig FILE or set KUBECONFIG', cause: error },
    );
  }
  if (target.context) {
    if (!kc.getContextObject(target.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new InputError(`the kubeconfig has no context '${target.context}'`, {
        hint: known.length > 0 ? `known contexts: ${known.join(', ')}` : 'the kubeconfig defines no contexts',
      });
    }
    kc.setCurrentContext(target.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new InputError('no Kubernetes cluster: the kubeconfig has no current context with a cluster', {
      hint: 'pass --kubeconfig FILE (and --context NAME), set KUBECONFIG, or run inside a pod',
    });
  }
  return kc;
}

/** A client for any object kind (it looks up resource names through discovery). */
export function objectApi(kc: KubeConfig): KubernetesObjectApi {
  return KubernetesObjectApi.makeApiClient(kc);
}

/** `Kind namespace/name` (or `Kind name` when cluster-scoped), for messages. */
export function describeObject(o: Pick<KubeObject, 'kind' | 'metadata'>): string {
  const ns = o.metadata.namespace;
  return `${o.kind} ${ns ? `${ns}/` : ''}${o.metadata.name}`;
}

/** The HTTP status of a client exception, if it is one. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/** The server's own message (its Status object) of a client exception. */
function serverMessage(error: ApiException<unknown>): string {
  const body = error.body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      // not JSON
    }
    return body.slice(0, 500);
  }
  if (body && typeof body === 'object' && 'message' in body) return String(body.message);
  return `HTTP ${error.code}`;
}

/** Reads an object; undefined when it does not exist. */
export async function readLive(
  api: KubernetesObjectApi,
  o: KubeObject,
  server: string,
): Promise<KubeObject | undefined> {
  try {
    return await api.read<KubeObject>({
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: { name: o.metadata.name, namespace: o.metadata.namespace },
    });
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw apiError(error, `reading ${describeObject(o)}`, server);
  }
}

/**
 * A StewardError for a failed call: the server's reason for a rejection, a hint for a kind the
 * server does not know (a CRD not installed), for credentials, and for an unreachable server.
 */
export function apiError(error: unknown, doing: string, server: string): StewardError {
  if (error instanceof StewardError) return error;
  if (error instanceof ApiException) {
    const code = error.code;
    const message = serverMessage(error);
    if (code === 401 || code === 403)
      return new StewardError(`${doing}: the API server ${server} refused us (HTTP ${code}): ${message}`, {
        hint: 'check the credentials and RBAC of the kubeconfig context (kubectl auth can-i)',
        cause: error,
      });
    if (code === 409)
      return new StewardError(`${doing}: conflict (HTTP 409): ${message}`, {
        hint: 'another field manager owns these fields; change them there, or pass --force-conflicts to take them over',
        cause: error,
      });
    return new StewardError(`${doing}: the API server rejected it (HTTP ${code}): ${message}`, {
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  const unknownKind =
    /Unrecognized API version and kind: (\S+) (\S+)|Failed to fetch resource metadata for (\S+)/.exec(
      message,
    );
  if (unknownKind) {
    return new StewardError(`${doing}: the API server ${server} does not serve this kind (${message})`, {
      hint: 'install its CustomResourceDefinition first (PodMonitor, ServiceMonitor and PrometheusRule come with the prometheus-operator CRDs)',
      cause: error,
    });
  }
  const cause = (error as { cause?: { code?: string } }).cause;
  if (
    /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|fetch failed/.test(message + String(cause?.code ?? ''))
  ) {
    return new StewardError(`${doing}: cannot reach the API server ${server}: ${message}`, {
      hint: 'check the kubeconfig context (--context) and that the cluster is up',
      cause: error,
    });
  }
  return new StewardError(`${doing}: ${message}`, { cause: error });
}
