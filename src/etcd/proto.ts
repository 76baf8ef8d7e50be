/**
 * The grpc-js side of the etcd API, for streams (snapshot, watch, lease keep-alive): service
 * client constructors made from the generated tables (etcd-api.generated.ts) and our codec
 * (wire-codec.ts) — no .proto parsed at run time — and the TLS material as grpc-js credentials.
 * Unary calls do not come here (channel.ts speaks gRPC over node:http2), so a short command
 * never loads grpc-js; channel.ts imports this module on the first stream.
 */
import {
  Channel,
  Metadata,
  credentials,
  makeGenericClientConstructor,
  type ChannelCredentials,
  type ServiceClientConstructor,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { tlsMaterial, type ConnectionOptions } from './credentials.js';
import type { Endpoint } from './endpoint.js';
import { SERVICES } from './etcd-api.generated.js';
import { decodeMessage, encodeMessage, resolveMethod, type ServiceName } from './wire-codec.js';

/** What channel.ts needs of grpc-js for streams (a static import here bundles right; a dynamic import of CommonJS would not). */
export const grpc = { Channel, Metadata, credentials };

export type EtcdServices = Record<ServiceName, ServiceClientConstructor>;

let services: EtcdServices | undefined;

/** The etcd v3 services as grpc-js client constructors; messages as wire-codec.ts shapes them. */
export function etcdServices(): EtcdServices {
  if (!services) {
    const built: Partial<EtcdServices> = {};
    for (const service of Object.keys(SERVICES) as ServiceName[]) {
      const definition: Record<string, ServiceDefinition[string]> = {};
      for (const method of Object.keys(SERVICES[service])) {
        const m = resolveMethod(service, method);
        definition[method] = {
          path: m.path,
          requestStream: m.requestStream,
          responseStream: m.responseStream,
          requestSerialize: (value: object) => encodeMessage(m.request, value as Record<string, unknown>),
          requestDeserialize: (data: Buffer) => decodeMessage<object>(m.request, data),
          responseSerialize: (value: object) => encodeMessage(m.response, value as Record<string, unknown>),
          responseDeserialize: (data: Buffer) => decodeMessage<object>(m.response, data),
          originalName: method.charAt(0).toLowerCase() + method.slice(1),
        };
      }
      built[service] = makeGenericClientConstructor(definition, service);
    }
    services = built as EtcdServices;
  }
  return services;
}

/** grpc-js channel credentials for `endpoint` (TLS files checked as tlsMaterial does). */
export function channelCredentials(endpoint: Endpoint, options: ConnectionOptions): ChannelCredentials {
  const tls = tlsMaterial(endpoint, options);
  if (!tls) return credentials.createInsecure();
  return credentials.createSsl(
    tls.ca,
    tls.key,
    tls.cert,
    tls.skipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
  );
}
