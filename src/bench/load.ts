/**
 * A load client for the defrag bench: puts and linearizable gets at a fixed rate (open loop: a
 * stalled request never delays the next), spread round-robin over the members, one
 * MemberClient per member. With a HealthWatcher it sends only to members whose gRPC health is
 * SERVING (all of them when none is), as a health-checking client balancer does. Every request
 * is recorded: member, kind, when sent (wall clock, ms), latency, error.
 */
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../etcd/member-client.js';
import type { HealthWatcher } from './health.js';

export interface RequestSample {
  readonly endpoint: string;
  readonly kind: 'put' | 'get';
  /** Wall-clock ms (epoch) when the request was sent. */
  readonly sentAt: number;
  readonly ms: number;
  readonly error: string | undefined;
}

export interface LoadClientOptions {
  readonly endpoints: readonly string[];
  readonly connection: ConnectionOptions;
  /** Requests per second, puts and gets alternating. */
  readonly rate: number;
  /** Keys written and read: PREFIX0000 … PREFIX0999. */
  readonly keyPrefix: string;
  readonly health?: HealthWatcher | undefined;
}

/** Wall-clock milliseconds with sub-millisecond precision. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

export class LoadClient {
  readonly samples: RequestSample[] = [];
  private readonly clients: Map<string, MemberClient>;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly value = Buffer.alloc(256, 'v');
  private timer: NodeJS.Timeout | undefined;
  private sequence = 0;
  private next = 0;

  constructor(private readonly options: LoadClientOptions) {
    this.clients = new Map(
      options.endpoints.map((e) => [e, new MemberClient(parseEndpoint(e), options.connection)]),
    );
  }

  /** Writes every key once, so gets find something (and connections are up before measuring). */
  async warmUp(): Promise<void> {
    const first = this.clients.values().next().value as MemberClient;
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => first.put(this.key(i + j), this.value)));
    }
    for (const client of this.clients.values()) await client.get(this.key(0));
  }

  start(): void {
    const interval = 1000 / this.options.rate;
    this.next = performance.now();
    const tick = () => {
      const now = performance.now();
      while (this.next <= now) {
        this.send();
        this.next += interval;
      }
      this.timer = setTimeout(tick, Math.max(1, this.next - performance.now()));
    };
    tick();
  }

  /** Stops sending, waits for the requests under way, and returns every sample. */
  async stop(): Promise<RequestSample[]> {
    clearTimeout(this.timer);
    await Promise.all(this.inFlight);
    return this.samples;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
  }

  private key(n: number): string {
    return `${this.options.keyPrefix}${String(n % 1000).padStart(4, '0')}`;
  }

  private pick(n: number): string {
    const all = this.options.endpoints;
    const health = this.options.health;
    const serving = health ? all.filter((e) => health.serving(e)) : all;
    const from = serving.length > 0 ? serving : all;
    return from[n % from.length] as string;
  }

  private send(): void {
    const n = this.sequence++;
    const endpoint = this.pick(Math.floor(n / 2));
    const client = this.clients.get(endpoint) as MemberClient;
    const kind = n % 2 === 0 ? 'put' : 'get';
    const key = this.key(n);
    const sentAt = wallNow();
    const started = performance.now();
    const request = (kind === 'put' ? client.put(key, this.value) : client.get(key)).then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    const done = request.then((error) => {
      this.samples.push({ endpoint, kind, sentAt, ms: performance.now() - started, error });
      this.inFlight.delete(done);
    });
    this.inFlight.add(done);
  }
}
