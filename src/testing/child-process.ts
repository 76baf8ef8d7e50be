/** Stopping the companion servers tests start (MinIO, Prometheus, kube-apiserver and its etcd). */
import type { ChildProcess } from 'node:child_process';

/** Runs `fn` once; later calls get the same promise. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}

/** SIGTERM, SIGKILL after `graceMs`; resolves when the child has exited. */
export async function killAndWait(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
