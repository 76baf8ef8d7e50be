/** Loads proto/etcd-v3.proto once and hands out the gRPC service constructors it declares. */
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const PROTO_FILE = fileURLToPath(new URL('../../proto/etcd-v3.proto', import.meta.url));

export interface EtcdServices {
  KV: ServiceClientConstructor;
  Maintenance: ServiceClientConstructor;
  Cluster: ServiceClientConstructor;
  Auth: ServiceClientConstructor;
  Lease: ServiceClientConstructor;
  Watch: ServiceClientConstructor;
}

let services: EtcdServices | undefined;

/** The etcd v3 services; 64-bit integers arrive as decimal strings, bytes as Buffers. */
export function etcdServices(): EtcdServices {
  if (!services) {
    const definition = loadSync(PROTO_FILE, {
      longs: String,
      enums: String,
      defaults: true,
      keepCase: false,
    });
    const pkg = loadPackageDefinition(definition)['etcdserverpb'] as unknown as EtcdServices;
    services = pkg;
  }
  return services;
}
