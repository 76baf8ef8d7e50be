/** etcd's Watch service on one member: a watch over the whole keyspace from a revision. */
import type { Metadata } from '@grpc/grpc-js';
import type { KeyValue } from '../snapshot/etcd-records.js';
import type { MemberChannel } from './channel.js';
import { toMemberError } from './errors.js';
import { fromWire, type KeyValueWire } from './kv.js';

/** One change a watch reports: a put (with the key's new state) or a delete (the key, and its mod revision). */
export interface WatchEvent extends KeyValue {
  readonly type: 'put' | 'delete';
}

/** One watch response: events (maybe none: created, progress, canceled) and the cluster's revision. */
export interface WatchResponse {
  /** The cluster's revision when etcd sent this response. */
  readonly revision: number;
  readonly created: boolean;
  readonly canceled: boolean;
  /** Set when the start revision was compacted away: the oldest revision still available. */
  readonly compactRevision: number;
  readonly cancelReason: string;
  readonly events: readonly WatchEvent[];
}

/** What `watchAll` hands back: ask for progress, or end the watch. */
export interface WatchHandle {
  readonly requestProgress: () => void;
  readonly cancel: () => void;
}

interface WatchCall {
  write(message: object): boolean;
  cancel(): void;
  on(event: 'data', listener: (message: WatchResponseWire) => void): WatchCall;
  on(event: 'error', listener: (error: Error) => void): WatchCall;
  on(event: 'end', listener: () => void): WatchCall;
}

interface WatchResponseWire {
  header?: { revision: string };
  created: boolean;
  canceled: boolean;
  compactRevision?: string;
  cancelReason?: string;
  events?: { type: string; kv: KeyValueWire }[];
}

/** Watch calls on one member. */
export class WatchService {
  constructor(private readonly channel: MemberChannel) {}

  /**
   * A watch on the whole keyspace from `startRevision`, on this member only. Every response is
   * handed to `onResponse` in order (events of one revision always arrive together); `onEnd` is
   * called once when the stream fails or ends, with the reason. `requestProgress()` asks etcd for
   * the current revision (a response with no events); `cancel()` ends the watch.
   */
  watchAll(
    startRevision: number,
    handlers: { onResponse: (response: WatchResponse) => void; onEnd: (error: Error | undefined) => void },
  ): WatchHandle {
    const endpoint = this.channel.endpoint.display;
    let ended = false;
    let call: WatchCall | undefined;
    const end = (error: Error | undefined) => {
      if (ended) return;
      ended = true;
      call?.cancel();
      handlers.onEnd(error);
    };
    const open = async () => {
      const metadata = await this.channel.streamMetadata();
      if (ended) return;
      call = this.channel.streamMethod<(m: Metadata) => WatchCall>('Watch', 'watch')(metadata);
      call.on('data', (r: WatchResponseWire) => {
        if (!ended) handlers.onResponse(fromWatchWire(r));
      });
      call.on('error', (error: Error) =>
        end(toMemberError(endpoint, 'Watch', error, this.channel.options.commandTimeoutMs)),
      );
      call.on('end', () => end(new Error(`${endpoint}: the watch stream ended`)));
      call.write({
        createRequest: {
          key: Buffer.from([0]),
          rangeEnd: Buffer.from([0]),
          startRevision,
          progressNotify: true,
        },
      });
    };
    open().catch((error: unknown) => end(error instanceof Error ? error : new Error(String(error))));
    return {
      requestProgress: () => {
        if (!ended) call?.write({ progressRequest: {} });
      },
      cancel: () => end(undefined),
    };
  }
}

function fromWatchWire(r: WatchResponseWire): WatchResponse {
  return {
    revision: Number(r.header?.revision ?? 0),
    created: r.created,
    canceled: r.canceled,
    compactRevision: Number(r.compactRevision ?? 0),
    cancelReason: r.cancelReason ?? '',
    events: (r.events ?? []).map((e) => ({
      type: e.type === 'DELETE' ? 'delete' : 'put',
      ...fromWire(e.kv),
    })),
  };
}
