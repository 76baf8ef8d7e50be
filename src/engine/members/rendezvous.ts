/**
 * The rendezvous of a cluster being created: while its init step decides, a member pod without
 * data answers `GET /etcd-steward/bootstrap` in plain HTTP on its peer port (etcd does not run
 * there yet). A new cluster starts only when every initial member answers so: a member whose
 * volume was lost while the others were briefly down never starts a cluster of its own.
 */
import http from 'node:http';
import type { BootstrapPeer } from './bootstrap.js';

const PATH = '/etcd-steward/bootstrap';

/** What a member in its init step says about itself: no data, and which members it has seen so. */
interface RendezvousAnswer {
  readonly name: string;
  readonly empty: boolean;
  readonly seen: readonly string[];
}

/** Serves this member's answer on `host:port` until `close()`; `seen` is read on every request. */
export async function serveRendezvous(
  name: string,
  host: string,
  port: number,
  seen: ReadonlySet<string>,
): Promise<{ close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === PATH) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name, empty: true, seen: [...seen] } satisfies RendezvousAnswer));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The names of `peers` that answer now, at their peer URL's host and port, that they have no data. */
export async function emptyPeers(peers: readonly BootstrapPeer[], timeoutMs = 1500): Promise<string[]> {
  return [...(await peerAnswers(peers, timeoutMs)).keys()];
}

/**
 * After deciding to create the cluster, keeps answering until every other initial member has
 * seen us (its answer lists us) or has left the rendezvous, at most `maxMs`: a member that
 * decided never leaves one behind that did not see it.
 */
export async function lingerUntilSeen(
  name: string,
  peers: readonly BootstrapPeer[],
  maxMs = 30_000,
  pollMs = 500,
): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    const answers = await peerAnswers(peers);
    if ([...answers.values()].every((seen) => seen.includes(name))) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Each peer that answers the rendezvous now, with the members it has seen. */
async function peerAnswers(
  peers: readonly BootstrapPeer[],
  timeoutMs = 1500,
): Promise<Map<string, string[]>> {
  const answers = await Promise.all(
    peers.map(async (peer) => {
      const url = new URL(peer.peerUrl);
      try {
        const res = await fetch(`http://${url.host}${PATH}`, { signal: AbortSignal.timeout(timeoutMs) });
        if (!res.ok) return undefined;
        const body = (await res.json()) as Partial<RendezvousAnswer>;
        return body.name === peer.name && body.empty === true
          ? ([peer.name, [...(body.seen ?? [])]] as [string, string[]])
          : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  return new Map(answers.filter((a) => a !== undefined));
}
