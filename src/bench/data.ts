/**
 * Fills a cluster with GreptimeDB-shaped metadata until its database reaches a size: tables
 * created in batches (name, info, route, datanode entries), then ALTERs (table_info versions),
 * region migrations (routes), drops (tombstone copies, then deletes), procedure keys that come
 * and go, sequences as 8-byte LE values, and the election keys under leases kept alive.
 *
 * Puts go through MemberClient with many in flight; deletes (MemberClient has none) go through
 * `etcdctl txn` in transactions of at most 128 operations, as metasrv writes them.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../etcd/member-client.js';
import {
  CATALOGS,
  Random,
  SCHEMAS,
  datanodeTableKey,
  datanodeTableValue,
  procedureStepValue,
  sequenceValue,
  tableDatanodes,
  tableInfoValue,
  tableKeys,
  tableNameValue,
  tableRouteValue,
  type TableRecord,
} from './greptime-values.js';

export interface LoadOptions {
  /** The member to write to (the leader: no forwarding). */
  readonly endpoint: string;
  readonly etcdctl: string;
  readonly connection: ConnectionOptions;
  /** Stop once the member's database is at least this large. */
  readonly targetBytes: number;
  /** Puts in flight at once. */
  readonly inFlight?: number;
  readonly tablesPerBatch?: number;
  readonly onProgress?: (message: string) => void;
}

export interface LoadResult {
  readonly ms: number;
  readonly dbSize: number;
  readonly revision: number;
  readonly tablesCreated: number;
  readonly tablesLive: number;
  readonly puts: number;
  readonly deletes: number;
  /** Key + value bytes sent in puts. */
  readonly bytesPut: number;
  /** Stops the election keys' keep-alives and revokes their leases. */
  readonly release: () => Promise<void>;
}

type Put = readonly [key: string, value: string | Buffer];

const MAX_TXN_OPS = 128;
const FIRST_TABLE_ID = 1024;

export async function loadGreptimeData(options: LoadOptions): Promise<LoadResult> {
  const started = performance.now();
  const client = new MemberClient(parseEndpoint(options.endpoint), options.connection);
  const rnd = new Random(20240611);
  const inFlight = options.inFlight ?? 96;
  const perBatch = options.tablesPerBatch ?? 1000;
  const live: TableRecord[] = [];
  let nextId = FIRST_TABLE_ID;
  let puts = 0;
  let deletes = 0;
  let bytesPut = 0;
  let lastProcedures: string[] = [];

  const putAll = async (ops: readonly Put[]): Promise<void> => {
    let i = 0;
    const worker = async () => {
      while (i < ops.length) {
        const [key, value] = ops[i++] as Put;
        await client.put(key, value);
        bytesPut += key.length + value.length;
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, ops.length) }, worker));
    puts += ops.length;
  };
  const deleteAll = async (keys: readonly string[]): Promise<void> => {
    for (let i = 0; i < keys.length; i += MAX_TXN_OPS) {
      await etcdctlDeleteTxn(options.etcdctl, options.endpoint, keys.slice(i, i + MAX_TXN_OPS));
    }
    deletes += keys.length;
  };

  const release = await electionKeys(client);
  try {
    const catalogs: Put[] = [];
    for (const catalog of CATALOGS) {
      catalogs.push([`__catalog_name/${catalog}`, '{}']);
      for (const schema of SCHEMAS)
        catalogs.push([`__schema_name/${catalog}/${schema}`, '{"ttl":null,"skip_wal":false}']);
    }
    await putAll(catalogs);

    for (let batch = 0; ; batch++) {
      // One put per key and batch: the puts of a batch are in flight together, in no order.
      const ops = new Map<string, string | Buffer>();
      // Keys deleted after this batch's puts: the last batch's procedures, stale and dropped keys.
      const doomed: string[] = [...lastProcedures];
      // CREATE TABLE.
      for (let n = 0; n < perBatch; n++) {
        const t: TableRecord = {
          id: nextId++,
          catalog: rnd.next() < 0.8 ? 'greptime' : rnd.pick(CATALOGS),
          schema: rnd.pick(SCHEMAS),
          name: `t_${rnd.int(0, 1e9).toString(36)}_${nextId}`,
          infoBytes: rnd.int(2048, 20480),
          version: 0,
          partitions: rnd.next() < 0.7 ? 1 : rnd.int(2, 16),
          routeVersion: 0,
        };
        live.push(t);
        for (const [key, value] of tablePuts(t)) ops.set(key, value);
      }
      ops.set('__meta_seq-table_id', sequenceValue(nextId));
      ops.set('__meta_seq-flow_id', sequenceValue(1024 + batch));
      // Procedures of this batch come; the previous batch's go.
      const procedures: string[] = [];
      for (let p = 0; p < 4; p++) {
        const id = randomUUID();
        const tableId = nextId - 1 - p;
        procedures.push(`/__procedure__/${id}/0000000001.step`, `/__procedure__/${id}/0000000002.commit`);
        ops.set(`/__procedure__/${id}/0000000001.step`, procedureStepValue(id, tableId));
        ops.set(`/__procedure__/${id}/0000000002.commit`, procedureStepValue(id, tableId));
      }
      // ALTER TABLE (10%): table_info version bumps; region migrations (5%): routes change.
      const older = live.length - perBatch;
      if (older > 0) {
        for (let n = 0; n < perBatch / 10; n++) {
          const t = live[rnd.int(0, older - 1)] as TableRecord;
          t.version++;
          ops.set(tableKeys(t).info, tableInfoValue(t));
        }
        const migrated = new Map<TableRecord, number[]>();
        for (let n = 0; n < perBatch / 20; n++) {
          const t = live[rnd.int(0, older - 1)] as TableRecord;
          if (!migrated.has(t)) migrated.set(t, tableDatanodes(t));
          t.routeVersion++;
          ops.set(tableKeys(t).route, tableRouteValue(t));
          for (const dn of tableDatanodes(t)) ops.set(datanodeTableKey(dn, t), datanodeTableValue(dn, t));
        }
        // Datanodes that no longer hold a region of a migrated table lose their entry.
        for (const [t, before] of migrated) {
          const after = tableDatanodes(t);
          for (const dn of before) if (!after.includes(dn)) doomed.push(datanodeTableKey(dn, t));
        }
      }
      // DROP TABLE (2% of the older tables): tombstone copies now, deletes after the puts.
      for (let n = 0; older > 0 && n < perBatch / 50; n++) {
        const index = rnd.int(0, live.length - perBatch - 1);
        const t = live[index] as TableRecord;
        live.splice(index, 1);
        for (const [key, value] of tablePuts(t)) {
          ops.set(`__tombstone/${key}`, value);
          doomed.push(key);
        }
      }
      await putAll([...ops]);
      await deleteAll([...new Set(doomed)]); // a txn must not touch a key twice
      lastProcedures = procedures;

      const status = await client.status();
      const mib = (status.dbSize / 2 ** 20).toFixed(0);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      options.onProgress?.(
        `data: ${nextId - FIRST_TABLE_ID} tables, ${puts} puts, db ${mib} MiB, ${seconds} s`,
      );
      if (status.dbSize >= options.targetBytes) {
        return {
          ms: performance.now() - started,
          dbSize: status.dbSize,
          revision: (await client.countKeys()).revision,
          tablesCreated: nextId - FIRST_TABLE_ID,
          tablesLive: live.length,
          puts,
          deletes,
          bytesPut,
          release: async () => {
            await release();
            client.close();
          },
        };
      }
    }
  } catch (error) {
    await release().catch(() => undefined);
    client.close();
    throw error;
  }
}

/** Every key a live table has, with its value. */
function tablePuts(t: TableRecord): Put[] {
  const keys = tableKeys(t);
  return [
    [keys.name, tableNameValue(t)],
    [keys.info, tableInfoValue(t)],
    [keys.route, tableRouteValue(t)],
    ...tableDatanodes(t).map((dn): Put => [datanodeTableKey(dn, t), datanodeTableValue(dn, t)]),
  ];
}

/** metasrv's election key (5 s lease) and its candidate key (600 s), renewed until released. */
async function electionKeys(client: MemberClient): Promise<() => Promise<void>> {
  const leases: string[] = [];
  const keepAlives: { stop: () => void }[] = [];
  const addr = 'greptime-meta-0.greptime-meta.greptime.svc:3002';
  for (const [key, value, ttl, every] of [
    ['__metasrv_election/leader', addr, 5, 2000],
    [`__metasrv_election_candidates/${addr}`, `{"addr":"${addr}","role":"metasrv"}`, 600, 60_000],
  ] as const) {
    const lease = await client.createWithLease(key, value, ttl);
    if (lease === undefined) continue;
    leases.push(lease);
    keepAlives.push(client.keepAlive(lease, every, () => undefined));
  }
  return async () => {
    for (const k of keepAlives) k.stop();
    for (const lease of leases) await client.revokeLease(lease).catch(() => undefined);
  };
}

/** Deletes `keys` in one etcd transaction (at most 128), through `etcdctl txn`. */
function etcdctlDeleteTxn(etcdctl: string, endpoint: string, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const child = spawn(etcdctl, [`--endpoints=${endpoint}`, 'txn'], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCDCTL_'))),
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`etcdctl txn exited ${String(code)}: ${stderr}`)),
    );
    // No compares, then the success operations, then no failure operations.
    child.stdin.end(`\n${keys.map((k) => `del ${k}`).join('\n')}\n\n\n`);
  });
}
