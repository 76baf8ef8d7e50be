/** etcd's Lease service on one member: grant, revoke, inspect and keep leases alive. */
import type { Metadata } from '@grpc/grpc-js';
import type { MemberChannel } from './channel.js';

interface KeepAliveCall {
  write(message: object): boolean;
  cancel(): void;
  on(event: 'data', listener: (message: { TTL: string }) => void): KeepAliveCall;
  on(event: 'error', listener: (error: Error) => void): KeepAliveCall;
}

/** Lease calls on one member. Lease ids are decimal strings. */
export class LeaseService {
  constructor(private readonly channel: MemberChannel) {}

  /**
   * Grants a lease of `ttlSeconds` with no key attached; returns its id (revoke it with
   * `revoke`). `id` asks for that lease id (point-in-time replay re-creates leases by id).
   */
  async grant(ttlSeconds: number, id?: string): Promise<string> {
    const r = await this.channel.unary<{ ID: string }>('Lease', 'leaseGrant', {
      TTL: ttlSeconds,
      ID: id ?? '0',
    });
    return r.ID;
  }

  /** Revokes a lease (its keys go with it); an unknown lease is not an error. */
  async revoke(id: string): Promise<void> {
    try {
      await this.channel.unary('Lease', 'leaseRevoke', { ID: id });
    } catch (error) {
      if (!(error instanceof Error && /lease not found/i.test(error.message))) throw error;
    }
  }

  /** A lease's granted and remaining TTL in seconds; `remaining` is -1 when the lease is gone. */
  async timeToLive(id: string): Promise<{ granted: number; remaining: number }> {
    const r = await this.channel.unary<{ TTL: string; grantedTTL: string }>('Lease', 'leaseTimeToLive', {
      ID: id,
      keys: false,
    });
    return { granted: Number(r.grantedTTL), remaining: Number(r.TTL) };
  }

  /** Every lease id the cluster holds (LeaseLeases, etcd 3.3+). */
  async ids(): Promise<string[]> {
    const r = await this.channel.unary<{ leases: { ID: string }[] }>('Lease', 'leaseLeases', {});
    return r.leases.map((l) => l.ID);
  }

  /**
   * Keeps a lease alive until `stop()`: one keep-alive stream, a refresh every `everyMs`.
   * `onLost` is called once if the lease expires or the stream fails. With a user, the stream
   * gets a fresh token from this member (as every stream does).
   */
  keepAlive(id: string, everyMs: number, onLost: (reason: string) => void): { stop: () => void } {
    let call: KeepAliveCall | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const stop = () => {
      if (stopped) return false;
      stopped = true;
      clearInterval(timer);
      call?.cancel();
      return true;
    };
    const lost = (reason: string) => {
      if (stop()) onLost(reason);
    };
    // The stream side (grpc-js) loads on first use, so the stream opens a moment later.
    const open = async () => {
      const metadata = await this.channel.streamMetadata();
      if (stopped) return;
      const opened = this.channel.streamMethod<(m: Metadata) => KeepAliveCall>(
        'Lease',
        'leaseKeepAlive',
      )(metadata);
      call = opened;
      opened.on('data', (r: { TTL: string }) => {
        if (Number(r.TTL) <= 0) lost('the lease expired');
      });
      opened.on('error', (error: Error) => lost(error.message));
      timer = setInterval(() => opened.write({ ID: id }), everyMs);
      opened.write({ ID: id });
    };
    open().catch((error: unknown) => lost(error instanceof Error ? error.message : String(error)));
    return { stop: () => void stop() };
  }
}
