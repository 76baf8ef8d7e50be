/**
 * One member, one gRPC channel, and the one path every unary etcd call takes: the auth token
 * attached, a deadline, the error turned into a typed `MemberRequestError` naming the member and
 * the call, and — the only retry — a fresh token from the SAME member when etcd says the token is
 * invalid or stale (a simple token expires after --auth-token-ttl idle seconds). Never another
 * member. The service facades (kv.ts, lease.ts, …) are thin layers over this.
 */
import { Channel, Metadata, type ChannelCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { channelCredentials, type ConnectionOptions } from './credentials.js';
import { type Endpoint } from './endpoint.js';
import { MemberAuthError, toMemberError } from './errors.js';
import { etcdServices, type EtcdServices } from './proto.js';

/** An etcd v3 gRPC service name. */
export type ServiceName = keyof EtcdServices;

type UnaryMethod = (
  request: object,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response: unknown) => void,
) => void;

/** A member's channel; the service clients on it are made on first use. close() when done. */
export class MemberChannel {
  readonly endpoint: Endpoint;
  readonly options: ConnectionOptions;
  private readonly credentials: ChannelCredentials;
  private readonly channel: Channel;
  private readonly clients = new Map<ServiceName, Client>();
  private token: string | undefined;
  private authenticating: Promise<void> | undefined;

  constructor(endpoint: Endpoint, options: ConnectionOptions) {
    this.endpoint = endpoint;
    this.options = options;
    this.credentials = channelCredentials(endpoint, options);
    this.channel = new Channel(endpoint.address, this.credentials, {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      'grpc.enable_retries': 0,
      // HTTP/2 flow control: the 64 KiB default window caps a snapshot stream far below what
      // loopback or a LAN carries; 8 MiB lets etcd keep sending while we process a chunk.
      'grpc-node.flow_control_window': 8 << 20,
    });
  }

  /** The deadline of an ordinary call: dial + command timeout. */
  get callTimeoutMs(): number {
    return this.options.dialTimeoutMs + this.options.commandTimeoutMs;
  }

  /**
   * One unary call of `service`.`method` on this member, within `timeoutMs` (default: dial +
   * command timeout). Rejects with a `MemberRequestError` (or a subclass: timeout, auth, …).
   */
  async unary<T>(
    service: ServiceName,
    method: string,
    request: object,
    timeoutMs = this.callTimeoutMs,
  ): Promise<T> {
    if (this.options.user && this.token === undefined) await this.authenticate();
    const sentWith = this.token;
    try {
      return await this.send<T>(service, method, request, timeoutMs, sentWith);
    } catch (error) {
      if (!this.options.user || !isStaleToken(error)) throw error;
      // Calls that failed with the same stale token share one fresh Authenticate.
      if (this.token === sentWith) await this.authenticate();
      return this.send<T>(service, method, request, timeoutMs, this.token);
    }
  }

  /**
   * Metadata for opening a stream (watch, snapshot). A stream cannot be retried with a fresh
   * token the way a unary call is, so with a user it always gets a fresh token from this member.
   */
  async streamMetadata(): Promise<Metadata> {
    if (this.options.user) await this.authenticate();
    return this.metadata(this.token);
  }

  /** Metadata with the token held now (none yet: no token), for a stream opened synchronously. */
  currentMetadata(): Metadata {
    return this.metadata(this.token);
  }

  /** The service's gRPC method `method`, bound to its client, for opening a stream. */
  streamMethod<F>(service: ServiceName, method: string): F {
    const client = this.client(service);
    const fn = (client as unknown as Record<string, unknown>)[method];
    if (typeof fn !== 'function') throw new Error(`etcd client has no method ${method}`);
    return (fn as (...args: unknown[]) => unknown).bind(client) as F;
  }

  /** Closes the channel: every call and stream on it ends. */
  close(): void {
    this.channel.close();
  }

  private authenticate(): Promise<void> {
    this.authenticating ??= this.send<{ token: string }>(
      'Auth',
      'authenticate',
      { name: this.options.user, password: this.options.password ?? '' },
      this.callTimeoutMs,
      undefined,
    )
      .then((r) => {
        this.token = r.token;
      })
      .finally(() => {
        this.authenticating = undefined;
      });
    return this.authenticating;
  }

  private send<T>(
    service: ServiceName,
    method: string,
    request: object,
    timeoutMs: number,
    token: string | undefined,
  ): Promise<T> {
    const fn = this.streamMethod<UnaryMethod>(service, method);
    return new Promise<T>((resolve, reject) => {
      fn(request, this.metadata(token), { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(toMemberError(this.endpoint.display, methodName(method), error, timeoutMs));
        else resolve(response as T);
      });
    });
  }

  private metadata(token: string | undefined): Metadata {
    const metadata = new Metadata();
    if (token) metadata.set('token', token);
    return metadata;
  }

  private client(service: ServiceName): Client {
    let client = this.clients.get(service);
    if (!client) {
      const Service = etcdServices()[service];
      client = new Service(this.endpoint.address, this.credentials, { channelOverride: this.channel });
      this.clients.set(service, client);
    }
    return client;
  }
}

function isStaleToken(error: unknown): boolean {
  return (
    error instanceof MemberAuthError && /invalid auth token|revision of auth store is old/i.test(error.reason)
  );
}

function methodName(method: string): string {
  return method.charAt(0).toUpperCase() + method.slice(1);
}
