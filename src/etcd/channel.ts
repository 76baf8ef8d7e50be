/**
 * One member, one connection, and the one path every unary etcd call takes: the auth token
 * attached, a deadline, the error turned into a typed `MemberRequestError` naming the member and
 * the call, and — the only retry — a fresh token from the SAME member when etcd says the token is
 * invalid or stale (a simple token expires after --auth-token-ttl idle seconds). Never another
 * member. The service facades (kv.ts, lease.ts, …) are thin layers over this.
 *
 * Unary calls speak gRPC over `node:http2` directly (one session per member, opened on first
 * use, messages by wire-codec.ts): loading grpc-js and a .proto cost a short command like
 * `status` more than its work. Streams (snapshot, watch, lease keep-alive) use grpc-js, loaded
 * on the first stream (proto.ts).
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Channel, Client, Metadata } from '@grpc/grpc-js';
import { tlsMaterial, type ConnectionOptions, type TlsMaterial } from './credentials.js';
import { type Endpoint } from './endpoint.js';
import { GrpcCallError, GrpcStatus, MemberAuthError, toMemberError } from './errors.js';
import { decodeMessage, encodeMessage, resolveMethod, type ServiceName } from './wire-codec.js';

export type { ServiceName } from './wire-codec.js';

/** HTTP/2 flow-control window: the 64 KiB default caps large responses (snapshots, big ranges). */
const WINDOW = 8 << 20;

type ProtoModule = typeof import('./proto.js');
type GrpcModule = ProtoModule['grpc'];

/** grpc-js and our service constructors, for streams; loaded once per process on first use. */
let streamModules: Promise<{ grpc: GrpcModule; proto: ProtoModule }> | undefined;
function loadStreamModules(): Promise<{ grpc: GrpcModule; proto: ProtoModule }> {
  streamModules ??= import('./proto.js').then((proto) => ({ grpc: proto.grpc, proto }));
  return streamModules;
}

/** A member's connection; the gRPC channel for streams is made on first use. close() when done. */
export class MemberChannel {
  readonly endpoint: Endpoint;
  readonly options: ConnectionOptions;
  private readonly tls: TlsMaterial | undefined;
  private session: ClientHttp2Session | undefined;
  private active = 0;
  private closed = false;
  private streams:
    { grpc: GrpcModule; proto: ProtoModule; channel: Channel; clients: Map<ServiceName, Client> } | undefined;
  private token: string | undefined;
  private authenticating: Promise<void> | undefined;

  /** Checks the TLS files (InputError naming the bad one); connects on the first call. */
  constructor(endpoint: Endpoint, options: ConnectionOptions) {
    this.endpoint = endpoint;
    this.options = options;
    this.tls = tlsMaterial(endpoint, options);
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
   * Metadata for opening a stream (watch, snapshot, keep-alive). A stream cannot be retried with
   * a fresh token the way a unary call is, so with a user it always gets a fresh token from this
   * member. Loads the stream side (grpc-js), after which `streamMethod` may be called.
   */
  async streamMetadata(): Promise<Metadata> {
    const { grpc } = await this.streamSide();
    if (this.options.user) await this.authenticate();
    const metadata = new grpc.Metadata();
    if (this.token) metadata.set('token', this.token);
    return metadata;
  }

  /** The service's gRPC method `method`, bound to its client, for opening a stream (after `streamMetadata`). */
  streamMethod<F>(service: ServiceName, method: string): F {
    if (!this.streams) throw new Error('streamMethod before streamMetadata: the stream side is not loaded');
    const client = this.streamClient(service);
    const fn = (client as unknown as Record<string, unknown>)[method];
    if (typeof fn !== 'function') throw new Error(`etcd client has no method ${method}`);
    return (fn as (...args: unknown[]) => unknown).bind(client) as F;
  }

  /** Closes the connection: every call and stream on it ends. */
  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = undefined;
    this.streams?.channel.close();
  }

  private async streamSide(): Promise<{ grpc: GrpcModule }> {
    if (!this.streams) {
      const { grpc, proto } = await loadStreamModules();
      if (!this.streams) {
        const credentials = proto.channelCredentials(this.endpoint, this.options);
        const channel = new grpc.Channel(this.endpoint.address, credentials, {
          'grpc.max_receive_message_length': -1,
          'grpc.max_send_message_length': -1,
          'grpc.initial_reconnect_backoff_ms': 100,
          'grpc.max_reconnect_backoff_ms': 1000,
          'grpc.enable_retries': 0,
          // The 64 KiB default window caps a snapshot stream far below what loopback or a LAN
          // carries; 8 MiB lets etcd keep sending while we process a chunk.
          'grpc-node.flow_control_window': WINDOW,
        });
        if (this.closed) channel.close();
        this.streams = { grpc, proto, channel, clients: new Map() };
      }
    }
    return this.streams;
  }

  private streamClient(service: ServiceName): Client {
    const streams = this.streams as NonNullable<MemberChannel['streams']>;
    let client = streams.clients.get(service);
    if (!client) {
      const Service = streams.proto.etcdServices()[service];
      client = new Service(this.endpoint.address, streams.grpc.credentials.createInsecure(), {
        channelOverride: streams.channel,
      });
      streams.clients.set(service, client);
    }
    return client;
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

  private async send<T>(
    service: ServiceName,
    method: string,
    request: object,
    timeoutMs: number,
    token: string | undefined,
  ): Promise<T> {
    const spec = resolveMethod(service, method);
    try {
      if (this.closed) throw new GrpcCallError(GrpcStatus.CANCELLED, 'the client was closed');
      const body = encodeMessage(spec.request, request as Record<string, unknown>);
      const response = await this.call(spec.path, body, timeoutMs, token);
      return decodeMessage<T>(spec.response, response);
    } catch (error) {
      throw toMemberError(this.endpoint.display, spec.name, error, timeoutMs);
    }
  }

  /** The member's HTTP/2 session, opened on first use and again after it closed. */
  private connect(): ClientHttp2Session {
    const current = this.session;
    if (current && !current.closed && !current.destroyed) return current;
    const tls = this.tls;
    const authority = `${tls ? 'https' : 'http'}://${this.endpoint.address}`;
    const session = http2.connect(authority, {
      settings: { initialWindowSize: WINDOW, enablePush: false },
      ...(tls && {
        ca: tls.ca ?? undefined,
        cert: tls.cert ?? undefined,
        key: tls.key ?? undefined,
        ...(tls.skipVerify && { rejectUnauthorized: false, checkServerIdentity: () => undefined }),
      }),
    });
    session.on('connect', () => session.setLocalWindowSize(WINDOW));
    // Every call in flight listens for the session's error and close (and stops when it ends):
    // many concurrent calls are normal, not a leak.
    session.setMaxListeners(0);
    // Failures reach the calls in flight through their own listeners; this keeps an error on an
    // idle session from being an uncaught 'error' event.
    session.on('error', () => undefined);
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    session.on('close', forget);
    session.on('goaway', forget);
    session.unref(); // an idle connection keeps no process alive; calls in flight ref it
    this.session = session;
    return session;
  }

  /** One gRPC unary exchange: the framed request out, the response message's bytes back. */
  private call(path: string, body: Buffer, timeoutMs: number, token: string | undefined): Promise<Buffer> {
    const session = this.connect();
    return new Promise<Buffer>((resolve, reject) => {
      let stream: ClientHttp2Stream | undefined;
      let settled = false;
      const chunks: Buffer[] = [];
      let headers: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders = {};
      const finish = (error: GrpcCallError | undefined, message?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        session.off('error', onSessionError);
        session.off('close', onSessionClose);
        this.active -= 1;
        if (this.active === 0 && !session.destroyed) session.unref();
        if (error) {
          if (stream && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
          reject(error);
        } else resolve(message as Buffer);
      };
      const onSessionError = (error: Error) =>
        finish(new GrpcCallError(GrpcStatus.UNAVAILABLE, transportReason(error), { cause: error }));
      const onSessionClose = () =>
        finish(new GrpcCallError(GrpcStatus.UNAVAILABLE, 'the connection closed before the answer'));
      const timer = setTimeout(
        () =>
          finish(new GrpcCallError(GrpcStatus.DEADLINE_EXCEEDED, `Deadline exceeded after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.active += 1;
      if (!session.destroyed) session.ref();
      session.on('error', onSessionError);
      session.on('close', onSessionClose);
      try {
        const requestHeaders: http2.OutgoingHttpHeaders = {
          ':method': 'POST',
          ':path': path,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
        };
        if (token) requestHeaders['token'] = token;
        stream = session.request(requestHeaders);
      } catch (error) {
        finish(new GrpcCallError(GrpcStatus.UNAVAILABLE, transportReason(error as Error), { cause: error }));
        return;
      }
      stream.on('response', (h: IncomingHttpHeaders) => {
        headers = h;
      });
      stream.on('trailers', (t: IncomingHttpHeaders) => {
        trailers = t;
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (error: Error) =>
        finish(new GrpcCallError(GrpcStatus.UNAVAILABLE, transportReason(error), { cause: error })),
      );
      stream.on('close', () => {
        const reset = stream?.rstCode;
        if (
          reset !== undefined &&
          reset !== http2.constants.NGHTTP2_NO_ERROR &&
          trailers['grpc-status'] === undefined &&
          headers['grpc-status'] === undefined
        ) {
          finish(resetError(reset));
          return;
        }
        const result = readResponse(headers, trailers, Buffer.concat(chunks));
        if (result instanceof GrpcCallError) finish(result);
        else finish(undefined, result);
      });
      const frame = Buffer.allocUnsafe(5);
      frame[0] = 0; // not compressed
      frame.writeUInt32BE(body.length, 1);
      stream.end(Buffer.concat([frame, body]));
    });
  }
}

/** A call the member reset (RST_STREAM) before any gRPC status, as gRPC clients report it. */
function resetError(code: number): GrpcCallError {
  const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;
  if (code === NGHTTP2_CANCEL) return new GrpcCallError(GrpcStatus.CANCELLED, 'Call cancelled');
  if (code === NGHTTP2_REFUSED_STREAM)
    return new GrpcCallError(GrpcStatus.UNAVAILABLE, 'Stream refused by server');
  return new GrpcCallError(GrpcStatus.INTERNAL, `Received RST_STREAM with code ${code}`);
}

/** The response message, or the call's failure from its status and HTTP/2 headers. */
function readResponse(
  headers: IncomingHttpHeaders,
  trailers: IncomingHttpHeaders,
  data: Buffer,
): Buffer | GrpcCallError {
  const statusText = trailers['grpc-status'] ?? headers['grpc-status'];
  const httpStatus = Number(headers[':status'] ?? 200);
  if (statusText === undefined) {
    if (httpStatus !== 200)
      return new GrpcCallError(GrpcStatus.UNAVAILABLE, `the member answered HTTP ${httpStatus}, not gRPC`);
    return new GrpcCallError(GrpcStatus.UNAVAILABLE, 'the stream ended without a gRPC status');
  }
  const status = Number(statusText);
  if (status !== 0) {
    const message = String(trailers['grpc-message'] ?? headers['grpc-message'] ?? '');
    let details = message;
    try {
      details = decodeURIComponent(message);
    } catch {
      // not percent-encoded after all
    }
    return new GrpcCallError(status, details || `gRPC status ${status}`);
  }
  if (data.length < 5) return new GrpcCallError(GrpcStatus.INTERNAL, 'the answer holds no message');
  if (data[0] !== 0)
    return new GrpcCallError(GrpcStatus.INTERNAL, 'the answer is compressed, which was not asked for');
  const length = data.readUInt32BE(1);
  if (data.length !== 5 + length)
    return new GrpcCallError(
      GrpcStatus.INTERNAL,
      `the answer's frame says ${length} bytes but ${data.length - 5} came`,
    );
  return data.subarray(5);
}

/** A transport failure's message as grpc-js put it ("…Last error: …"), so errors.ts explains it the same way. */
function transportReason(error: Error): string {
  // A call sent while the session connects fails with "The pending stream has been canceled";
  // the connection's own error (ECONNREFUSED, a TLS failure) is its cause, and is what to say.
  const cause = (error as { cause?: unknown }).cause;
  const root =
    error.message.startsWith('The pending stream has been canceled') && cause instanceof Error
      ? cause
      : error;
  return `No connection established. Last error: ${root.message}`;
}

function isStaleToken(error: unknown): boolean {
  return (
    error instanceof MemberAuthError && /invalid auth token|revision of auth store is old/i.test(error.reason)
  );
}
