/**
 * gRPC health of each member (grpc.health.v1.Health/Watch on the service ""), as a
 * health-checking client sees it: etcd members started with StopGRPCServiceOnDefrag report
 * NOT_SERVING while they defragment. A watch that breaks counts as not serving until it is back.
 */
import { fileURLToPath } from 'node:url';
import {
  loadPackageDefinition,
  type ClientReadableStream,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ConnectionOptions } from '../etcd/credentials.js';
import { channelCredentials } from '../etcd/proto.js';
import { parseEndpoint } from '../etcd/endpoint.js';

const PROTO_FILE = fileURLToPath(new URL('../../proto/grpc-health-v1.proto', import.meta.url));

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN' | 'DISCONNECTED';

export interface HealthChange {
  readonly endpoint: string;
  readonly status: ServingStatus;
  /** performance.now() when the change arrived. */
  readonly at: number;
}

let healthService: ServiceClientConstructor | undefined;

function service(): ServiceClientConstructor {
  if (!healthService) {
    const definition = loadSync(PROTO_FILE, { enums: String, defaults: true });
    const pkg = loadPackageDefinition(definition) as unknown as {
      grpc: { health: { v1: { Health: ServiceClientConstructor } } };
    };
    healthService = pkg.grpc.health.v1.Health;
  }
  return healthService;
}

interface HealthStub {
  watch(request: { service: string }): ClientReadableStream<{ status: ServingStatus }>;
  close(): void;
}

/** Watches every endpoint's health until `close()`; `serving(e)` is the latest word. */
export class HealthWatcher {
  readonly changes: HealthChange[] = [];
  private readonly status = new Map<string, ServingStatus>();
  private readonly stubs: HealthStub[] = [];
  private closed = false;

  constructor(endpoints: readonly string[], connection: ConnectionOptions) {
    const Health = service();
    for (const endpoint of endpoints) {
      const parsed = parseEndpoint(endpoint);
      const stub = new Health(
        parsed.address,
        channelCredentials(parsed, connection),
      ) as unknown as HealthStub;
      this.stubs.push(stub);
      this.status.set(endpoint, 'UNKNOWN');
      this.watch(endpoint, stub);
    }
  }

  serving(endpoint: string): boolean {
    return this.status.get(endpoint) === 'SERVING';
  }

  close(): void {
    this.closed = true;
    for (const stub of this.stubs) stub.close();
  }

  private set(endpoint: string, status: ServingStatus): void {
    if (this.status.get(endpoint) === status) return;
    this.status.set(endpoint, status);
    this.changes.push({ endpoint, status, at: performance.now() });
  }

  private watch(endpoint: string, stub: HealthStub): void {
    if (this.closed) return;
    const call = stub.watch({ service: '' });
    let again = false;
    const retry = () => {
      if (again) return;
      again = true;
      this.set(endpoint, 'DISCONNECTED');
      setTimeout(() => this.watch(endpoint, stub), 200).unref();
    };
    call.on('data', (m: { status: ServingStatus }) => this.set(endpoint, m.status));
    call.on('error', retry);
    call.on('end', retry);
  }
}
