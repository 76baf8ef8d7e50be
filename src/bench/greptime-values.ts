/**
 * GreptimeDB-shaped metadata for benchmark data (see ../shared/greptime-keyspace.md): the keys
 * metasrv keeps in etcd and JSON values of the same shape and size. Deterministic: a table's
 * values depend only on its record, so a drop can write the same bytes under `__tombstone/`.
 */

/** A small, fast, seeded PRNG (mulberry32): the same seed gives the same data set. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

/** One table as the generator remembers it; everything else is derived from it. */
export interface TableRecord {
  readonly id: number;
  readonly catalog: string;
  readonly schema: string;
  readonly name: string;
  /** Size the first version of its `__table_info` aims at (2–20 KiB). */
  readonly infoBytes: number;
  /** Bumped by ALTER: one more column each time. */
  version: number;
  readonly partitions: number;
  /** Bumped by a region migration: the leaders move one datanode on. */
  routeVersion: number;
}

export const DATANODES = 6;
export const CATALOGS = ['greptime', 'metrics', 'logs'] as const;
export const SCHEMAS = ['public', 'prod', 'staging', 'infra', 'apps'] as const;

const WORDS = [
  'host', 'region', 'zone', 'service', 'pod', 'container', 'namespace', 'cpu', 'memory', 'disk',
  'latency', 'status', 'method', 'path', 'user', 'tenant', 'bytes', 'count', 'error', 'level',
  'message', 'trace_id', 'span_id', 'device', 'sensor', 'reading', 'temperature', 'humidity',
]; // prettier-ignore
const TYPES = [
  ['{"String":null}', 'Field'],
  ['{"Float64":{}}', 'Field'],
  ['{"Int64":{}}', 'Field'],
  ['{"UInt32":{}}', 'Field'],
  ['{"Boolean":null}', 'Field'],
] as const;

/** `__table_name/...`, `__table_info/...`, `__table_route/...` of a table. */
export function tableKeys(t: TableRecord): { name: string; info: string; route: string } {
  return {
    name: `__table_name/${t.catalog}/${t.schema}/${t.name}`,
    info: `__table_info/${t.id}`,
    route: `__table_route/${t.id}`,
  };
}

/** The datanodes holding the table's region leaders (at its current route version). */
export function tableDatanodes(t: TableRecord): number[] {
  const nodes = new Set<number>();
  for (let p = 0; p < t.partitions; p++) nodes.add((t.id + p + t.routeVersion) % DATANODES);
  return [...nodes].sort((a, b) => a - b);
}

export function datanodeTableKey(datanode: number, t: TableRecord): string {
  return `__dn_table/${datanode}/${t.id}`;
}

export function tableNameValue(t: TableRecord): string {
  return `{"table_id":${t.id}}`;
}

function column(name: string, type: string, semantic: string, id: number): string {
  return (
    `{"name":"${name}","data_type":${type},"is_nullable":true,"is_time_index":false,` +
    `"default_constraint":null,"metadata":{"greptime:semantic_type":"${semantic}","greptime:column_id":"${id}"}}`
  );
}

/** `__table_info/{id}`: a RawTableInfo-shaped JSON document of about `infoBytes` (+ ALTERs). */
export function tableInfoValue(t: TableRecord): string {
  const rnd = new Random(t.id * 2654435761);
  const columns: string[] = [
    `{"name":"ts","data_type":{"Timestamp":{"Millisecond":null}},"is_nullable":false,"is_time_index":true,` +
      `"default_constraint":null,"metadata":{"greptime:time_index":"true","greptime:column_id":"0"}}`,
  ];
  const tags = rnd.int(1, 5);
  const head =
    `{"table_info":{"ident":{"table_id":${t.id},"version":${t.version}},"name":"${t.name}","desc":null,` +
    `"catalog_name":"${t.catalog}","schema_name":"${t.schema}","meta":{"schema":{"column_schemas":[`;
  // The first version aims at infoBytes; each ALTER (version) adds one more column.
  let size = head.length + 700;
  let extra = t.version;
  for (let i = 1; size < t.infoBytes || extra-- > 0; i++) {
    const [type, semantic] = i <= tags ? ['{"String":null}', 'Tag'] : rnd.pick(TYPES);
    const c = column(`${rnd.pick(WORDS)}_${rnd.pick(WORDS)}_${i}`, type, semantic, i);
    columns.push(c);
    size += c.length + 1;
  }
  const regions = Array.from({ length: t.partitions }, (_, p) => p).join(',');
  const keys = Array.from({ length: tags }, (_, i) => i + 1).join(',');
  const values = Array.from({ length: columns.length - tags - 1 }, (_, i) => i + tags + 1).join(',');
  return (
    `${head}${columns.join(',')}],"timestamp_index":0,"version":${t.version}},` +
    `"primary_key_indices":[${keys}],"value_indices":[${values}],"engine":"mito",` +
    `"next_column_id":${columns.length},"region_numbers":[${regions}],` +
    `"options":{"write_buffer_size":null,"ttl":"7days","skip_wal":false,"extra_options":` +
    `{"append_mode":"false","compaction.type":"twcs","compaction.twcs.time_window":"1d"}},` +
    `"created_on":"2025-0${1 + (t.id % 9)}-1${t.id % 10}T08:1${t.id % 10}:00.000Z",` +
    `"partition_key_indices":[${t.partitions > 1 ? '1' : ''}],"column_ids":[]},"table_type":"Base"},` +
    `"version":${t.version}}`
  );
}

/** `__table_route/{id}`: a physical route, one region per partition with its leader datanode. */
export function tableRouteValue(t: TableRecord): string {
  const routes: string[] = [];
  for (let p = 0; p < t.partitions; p++) {
    const regionId = t.id * 2 ** 32 + p;
    const node = (t.id + p + t.routeVersion) % DATANODES;
    const bound = t.partitions > 1 ? `"host < 'h${String(p + 1).padStart(3, '0')}'"` : '';
    routes.push(
      `{"region":{"id":${regionId},"name":"","partition":{"column_list":["host"],"value_list":[${bound ? `"${Buffer.from(bound).toString('base64')}"` : ''}]},"attrs":{}},` +
        `"leader_peer":{"id":${node},"addr":"greptime-datanode-${node}.greptime-datanode.greptime.svc:4001"},` +
        `"follower_peers":[],"leader_state":null,"leader_down_since":null}`,
    );
  }
  return `{"type":"physical","region_routes":[${routes.join(',')}],"version":${t.routeVersion}}`;
}

/** `__dn_table/{datanode}/{id}`: the table's regions on that datanode. */
export function datanodeTableValue(datanode: number, t: TableRecord): string {
  const regions: number[] = [];
  for (let p = 0; p < t.partitions; p++)
    if ((t.id + p + t.routeVersion) % DATANODES === datanode) regions.push(p);
  return (
    `{"datanode_id":${datanode},"table_id":${t.id},"regions":[${regions.join(',')}],` +
    `"engine":"mito","region_storage_path":"${t.catalog}/${t.schema}","region_options":{"ttl":"7days"},` +
    `"region_wal_options":{}}`
  );
}

/** A sequence value as metasrv stores it: 8 bytes, little-endian u64. */
export function sequenceValue(next: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(next));
  return b;
}

/** A procedure's state step (JSON), such as metasrv writes while a DDL runs. */
export function procedureStepValue(procedureId: string, tableId: number): string {
  return (
    `{"procedure_id":"${procedureId}","type_name":"metasrv-procedure::CreateTable","state":"Running",` +
    `"data":"{\\"state\\":\\"CreateMetadata\\",\\"table_id\\":${tableId}}","parent_id":null,"lock_key":["${tableId}"]}`
  );
}
