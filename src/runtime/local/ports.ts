/** Free loopback ports for local members. */
import { readFileSync } from 'node:fs';
import net from 'node:net';

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * The first port the kernel hands out for outgoing connections (Linux: ip_local_port_range).
 * Ports picked for members stay below it: a port taken from that range could be given to some
 * client's outgoing connection before the member binds it (seen in tests running side by side).
 */
function ephemeralStart(): number {
  try {
    const first = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    return Number.isInteger(first) && first > 2048 ? first : 32768;
  } catch {
    return 32768;
  }
}

/** `count` distinct free ports, held open together while picked so they never repeat. */
export async function freePorts(count: number): Promise<number[]> {
  const high = ephemeralStart();
  const low = Math.max(1024, Math.min(15000, high - 4096));
  const servers: net.Server[] = [];
  try {
    for (let tries = 0; servers.length < count; tries += 1) {
      // Random ports below the ephemeral range; after many misses, let the kernel choose.
      const port = tries < 200 ? low + Math.floor(Math.random() * (high - low)) : 0;
      const server = await listen(port).catch(() => undefined);
      if (server) servers.push(server);
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map(close));
  }
}

/** True when something already listens on 127.0.0.1:port. */
export async function portInUse(port: number): Promise<boolean> {
  try {
    await close(await listen(port));
    return false;
  } catch {
    return true;
  }
}
