/**
 * The agent's HTTP API in one place: a zod schema per reply and request body, and the table of
 * routes that uses them. The server types its replies with these schemas (`ApiReply`), the
 * OpenAPI document at /api/openapi.json is generated from them (openapi.ts), and the dashboard
 * imports their types (`import type`, so zod stays out of the browser bundle).
 *
 * Each schema describes the JSON on the wire: the server sends `undefined` as `null`, so a field
 * the engine may leave undefined is `nullable()` here, never `optional()`; `optional()` is only
 * for keys that may be absent. Objects are strict, so a field added to a reply but not here
 * fails the API test (src/server/api-schemas.test.ts). Imports only zod and the backup manifest
 * schema (itself only zod): this file is also compiled by the dashboard's tsconfig.
 */
import { z } from 'zod';
import { manifestSchema } from '../engine/backup/manifest.js';

const text = z.string();
const maybeText = z.string().nullable();
const maybeNumber = z.number().nullable();
/** An ISO-8601 time in UTC, as `Date.toISOString()` writes it. */
const time = z.iso.datetime();

/** An error reply (every 4xx/5xx): what went wrong and, when known, the fix. */
export const errorReply = z.strictObject({ error: text, hint: text.optional() });

/** Something wrong right now (the banner): one per kind of problem. */
export const problem = z.strictObject({
  id: text.meta({
    description:
      'no-leader, member-down, alarm, backup-stale, backup-failing, drill-failing, defrag-failing, member-cut-off (and changelog-gap, changelog-lag with continuous backups; heal-failed, heal-needs-quorum with self-healing)',
  }),
  severity: z.enum(['critical', 'warning']),
  message: text,
});

/** One member's row, as `etcd-steward status -o json` prints it (null: the member did not say). */
export const memberRow = z.strictObject({
  endpoint: text,
  id: maybeText.meta({ description: 'member id in hex' }),
  name: maybeText,
  version: maybeText,
  storageVersion: maybeText,
  clusterVersion: maybeText
    .optional()
    .meta({ description: "the cluster version this member reports (its /version endpoint's etcdcluster)" }),
  dbSize: maybeNumber.meta({ description: 'bytes' }),
  dbSizeInUse: maybeNumber,
  fragmentationPercent: maybeNumber,
  quota: z.number(),
  quotaSource: z.enum(['member', 'spec', 'default']),
  quotaUsePercent: maybeNumber,
  isLeader: z.boolean().nullable(),
  isLearner: z.boolean().nullable(),
  leaderId: maybeText,
  raftTerm: maybeNumber,
  raftIndex: maybeNumber,
  raftAppliedIndex: maybeNumber,
  errors: z.array(text),
  alarms: z.array(text),
  health: z.strictObject({
    ok: z.boolean(),
    error: maybeText.meta({ description: 'why the member is not healthy; null when ok' }),
    tookMs: maybeNumber.meta({ description: 'round trip of the linearizable health read' }),
  }),
  cutOff: maybeText.meta({
    description:
      'why the member looks cut off from the others (answers, but follows no leader or an older term); null when it is not',
  }),
});

/** GET /api/status */
export const statusReply = z.strictObject({
  cluster: z.strictObject({
    name: text,
    id: maybeText,
    leaderId: maybeText,
    healthy: z.boolean(),
  }),
  checkedAt: time.nullable().meta({ description: 'end of the last successful poll; null before the first' }),
  members: z.array(memberRow),
  problems: z.array(problem),
});

/** One member in one history sample. */
export const historyMember = z.strictObject({
  name: text,
  dbSize: maybeNumber,
  dbSizeInUse: maybeNumber,
  raftIndex: maybeNumber,
  appliedLag: maybeNumber.meta({ description: "how far this member's applied index is behind the furthest" }),
  isLeader: z.boolean(),
  healthy: z.boolean(),
});

/** GET /api/history */
export const historyReply = z.strictObject({
  windowSeconds: z.number(),
  samples: z.array(
    z.strictObject({
      t: z.number().meta({ description: 'end of the poll, ms since the epoch' }),
      members: z.array(historyMember),
    }),
  ),
});

/** A backup's manifest, as stored beside the snapshot and as `backup list -o json` prints it. */
export const backupManifest = manifestSchema.strict();

/** GET /api/backups */
export const backupsReply = z.strictObject({
  storage: maybeText.meta({ description: 'where the backups are (no credentials); null without storage' }),
  backups: z.array(backupManifest),
});

const memberRole = z.enum(['leader', 'follower', 'learner']);
const preflightAlarm = z.strictObject({ memberId: text, member: text, alarm: text });
const memberRef = { id: text, name: maybeText, endpoint: text };

/** A defrag run's report (GET /api/defrag/plan, and the result of a defrag job). */
export const defragReport = z.strictObject({
  format: z.literal(1),
  kind: z.literal('defrag'),
  cluster: z.strictObject({ name: maybeText, id: maybeText }),
  outcome: z.enum(['planned', 'done', 'failed', 'refused']),
  ok: z.boolean(),
  dryRun: z.boolean(),
  rule: text,
  continueOnError: z.boolean(),
  startedAt: time,
  finishedAt: time,
  durationMs: z.number(),
  preflight: z.strictObject({
    ok: z.boolean(),
    problems: z.array(text),
    warnings: z.array(text),
    votingMembers: z.number(),
    appliedLag: maybeNumber,
    maxAppliedLag: z.number(),
    alarms: z.array(preflightAlarm),
    members: z.array(
      z.strictObject({
        endpoint: text,
        name: maybeText,
        id: maybeText,
        role: memberRole.nullable(),
        healthy: z.boolean(),
        error: maybeText,
        raftAppliedIndex: maybeNumber,
        alarms: z.array(text),
      }),
    ),
  }),
  compaction: z
    .strictObject({
      requested: z.literal(true),
      revision: maybeNumber,
      tookMs: maybeNumber,
      note: maybeText,
    })
    .nullable(),
  plan: z.array(
    z.strictObject({
      order: z.number(),
      endpoint: text,
      name: maybeText,
      id: text,
      role: memberRole,
      dbSize: z.number(),
      dbSizeInUse: z.number(),
      dbSizeFree: z.number(),
      dbQuota: z.number(),
      dbQuotaSource: z.enum(['member', 'spec', 'default']),
      dbQuotaUsage: z.number().meta({ description: 'dbSize / dbQuota, a ratio' }),
      ruleHolds: z.boolean(),
      action: z.enum(['defragment', 'skip']),
      wouldReclaim: z.number(),
    }),
  ),
  results: z.array(
    z.strictObject({
      ...memberRef,
      role: memberRole,
      outcome: z.enum(['defragmented', 'skipped:rule', 'skipped:stopped', 'failed']),
      dbSizeBefore: z.number(),
      dbSizeAfter: maybeNumber,
      dbSizeInUseAfter: maybeNumber,
      reclaimed: maybeNumber,
      durationMs: maybeNumber,
      settleMs: maybeNumber,
      deadlineMs: maybeNumber,
      leadershipMovedTo: maybeText,
      startedAt: time.nullable(),
      finishedAt: time.nullable(),
      error: maybeText,
    }),
  ),
  leadershipMoves: z.array(
    z.strictObject({
      from: z.strictObject(memberRef),
      to: z.strictObject(memberRef),
      before: text,
      at: time,
      tookMs: z.number(),
    }),
  ),
  alarmsDisarmed: z.array(preflightAlarm),
  alarmsLeft: z.array(preflightAlarm.extend({ reason: text })),
  reclaimed: z.number(),
  error: maybeText,
  historyFile: maybeText,
});

/** What a job of each kind reports once it has ended (`result`; also on failure where it has one). */
export const jobResults = {
  backup: z.strictObject({
    backup: text,
    revision: z.number(),
    keys: z.number(),
    size: z.number(),
    storedSize: z.number(),
    member: maybeText,
  }),
  prune: z.strictObject({ removed: z.array(text), kept: z.array(text) }),
  verify: z.strictObject({ backup: text, ok: z.boolean(), problems: z.array(text) }),
  drill: z.strictObject({ backup: text, ok: z.boolean(), detail: text }),
  compact: z.strictObject({
    from: text.meta({ description: "the chain's backup that was folded" }),
    backup: maybeText.meta({ description: 'the new backup; null when the chain had no log yet' }),
    revision: z.number(),
    revisions: z.number().meta({ description: 'change-log revisions folded' }),
    revisionsPerSecond: z.number(),
    size: z.number(),
  }),
  defrag: defragReport,
  heal: z.strictObject({
    member: text,
    action: z.enum(['replace', 'restart', 'promote', 'none']),
    outcome: z
      .enum([
        'replaced',
        'restarted',
        'promoted',
        'would replace',
        'would restart',
        'would promote',
        'would need quorum',
        'not acting',
      ])
      .meta({
        description: "what healing did; 'would …' in dry-run mode, 'would need quorum' when it refused",
      }),
    dryRun: z.boolean(),
    condition: text.meta({ description: 'what was wrong with the member, and for how long' }),
    reason: text,
    detail: maybeText,
    steps: z.array(
      z.strictObject({
        step: text,
        outcome: z.enum(['done', 'skipped']),
        detail: text,
        tookMs: z.number(),
      }),
    ),
  }),
} as const;

const jobFields = {
  id: text,
  trigger: z.enum(['schedule', 'api']),
  state: z.enum(['queued', 'running', 'succeeded', 'failed', 'aborted']),
  createdAt: time,
  startedAt: time.nullable(),
  finishedAt: time.nullable(),
  durationMs: maybeNumber,
  error: text.optional(),
  hint: text.optional().meta({ description: 'what to do about the error, when the failure names a fix' }),
};

/** A job of one kind, with that kind's result. */
function jobOf<K extends string, R extends z.ZodType>(kind: K, result: R) {
  return z.strictObject({ ...jobFields, kind: z.literal(kind), result: result.optional() });
}

/** A job of the agent's queue (one at a time per cluster); `kind` says which result it carries. */
export const job = z.discriminatedUnion('kind', [
  jobOf('backup', jobResults.backup),
  jobOf('prune', jobResults.prune),
  jobOf('verify', jobResults.verify),
  jobOf('drill', jobResults.drill),
  jobOf('compact', jobResults.compact),
  jobOf('defrag', jobResults.defrag),
  jobOf('heal', jobResults.heal),
]);

/** GET /api/jobs */
export const jobsReply = z.strictObject({ jobs: z.array(job) });

/** The reply of every POST that queues a job (202). */
export const acceptedReply = z.strictObject({ job });

/** Body of POST /api/defrag. */
export const defragBody = z.strictObject({
  confirm: z.literal(true, {
    error: 'set "confirm": true to run a defrag (it briefly blocks each member in turn)',
  }),
  compact: z.boolean().optional().meta({ description: 'compact to the current revision first' }),
});

/** Body of the POSTs that take none (an empty body or `{}`). */
export const emptyBody = z.strictObject({});

/**
 * A value that becomes `T` once sent: the server writes undefined as null, so wherever the wire
 * has null the value may hold undefined (the engine's types say `undefined` for "not known").
 */
export type Sendable<T> = T extends null
  ? null | undefined
  : T extends readonly (infer U)[]
    ? readonly Sendable<U>[]
    : T extends object
      ? { readonly [K in keyof T]: Sendable<T[K]> }
      : T;

/** Component names in the OpenAPI document. */
export const namedSchemas = {
  Error: errorReply,
  Problem: problem,
  MemberRow: memberRow,
  Status: statusReply,
  HistoryMember: historyMember,
  History: historyReply,
  Manifest: backupManifest,
  Backups: backupsReply,
  DefragReport: defragReport,
  BackupJobResult: jobResults.backup,
  PruneJobResult: jobResults.prune,
  VerifyJobResult: jobResults.verify,
  DrillJobResult: jobResults.drill,
  CompactJobResult: jobResults.compact,
  HealJobResult: jobResults.heal,
  Job: job,
  Jobs: jobsReply,
  Accepted: acceptedReply,
} as const;

/** A route of the agent: its reply schema per status code (`text` for non-JSON replies). */
export interface ApiRoute {
  readonly method: 'GET' | 'POST';
  /** OpenAPI form: /api/backups/{name}/verify. */
  readonly path: string;
  readonly summary: string;
  readonly params?: Readonly<Record<string, string>>;
  readonly body?: { readonly schema: z.ZodType; readonly required: boolean };
  readonly ok: {
    readonly status: 200 | 202;
    readonly description: string;
    readonly schema: z.ZodType | 'text';
  };
  /** Error statuses this route answers with (the Error schema). */
  readonly errors: readonly number[];
  /** Needs the bearer token when one is set. */
  readonly mutating?: boolean;
}

const accepted = {
  status: 202,
  description: 'The job was queued; poll GET /api/jobs/{id}',
  schema: acceptedReply,
} as const;

/** POST /api/backups/{name}/ACTION: a job on one stored backup. */
function backupAction<A extends string>(action: A, summary: string) {
  return {
    method: 'POST',
    path: `/api/backups/{name}/${action}`,
    summary,
    params: { name: 'a backup name, or latest' },
    body: { schema: emptyBody, required: false },
    ok: accepted,
    errors: [400, 401, 404, 409],
    mutating: true,
  } as const;
}

/** Every route the agent serves except the dashboard's files. */
export const apiRoutes = {
  status: {
    method: 'GET',
    path: '/api/status',
    summary: 'Cluster status from the last poll, with the current problems',
    ok: { status: 200, description: 'The status', schema: statusReply },
    errors: [],
  },
  history: {
    method: 'GET',
    path: '/api/history',
    summary: 'Status samples kept in memory for monitoring.historyWindow, oldest first',
    ok: { status: 200, description: 'Samples, oldest first', schema: historyReply },
    errors: [],
  },
  backups: {
    method: 'GET',
    path: '/api/backups',
    summary: 'The backup catalog (oldest first) and the storage it is in (no credentials)',
    ok: { status: 200, description: 'The catalog', schema: backupsReply },
    errors: [],
  },
  createBackup: {
    method: 'POST',
    path: '/api/backups',
    summary: 'Take a backup now (then prune by the retention rule)',
    body: { schema: emptyBody, required: false },
    ok: accepted,
    errors: [400, 401, 409],
    mutating: true,
  },
  verify: backupAction('verify', 'Re-read a stored backup end to end and record the verdict'),
  drill: backupAction('drill', 'Restore a backup into a throwaway cluster and compare'),
  defragPlan: {
    method: 'GET',
    path: '/api/defrag/plan',
    summary: 'The defrag dry run: the same JSON as `etcd-steward defrag --dry-run -o json`',
    ok: { status: 200, description: 'The defrag report of a dry run', schema: defragReport },
    errors: [],
  },
  defrag: {
    method: 'POST',
    path: '/api/defrag',
    summary: 'Run a rolling defrag with the spec’s rule',
    body: { schema: defragBody, required: true },
    ok: accepted,
    errors: [400, 401],
    mutating: true,
  },
  jobs: {
    method: 'GET',
    path: '/api/jobs',
    summary: 'Jobs, newest first (the newest 200 finished ones are kept)',
    ok: { status: 200, description: 'Jobs', schema: jobsReply },
    errors: [],
  },
  job: {
    method: 'GET',
    path: '/api/jobs/{id}',
    summary: 'One job',
    params: { id: 'a job id' },
    ok: { status: 200, description: 'The job', schema: job },
    errors: [404],
  },
  openapi: {
    method: 'GET',
    path: '/api/openapi.json',
    summary: 'This document',
    ok: { status: 200, description: 'OpenAPI 3', schema: z.record(z.string(), z.unknown()) },
    errors: [],
  },
  metrics: {
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics (text format), prefix etcd_steward_',
    ok: { status: 200, description: 'Metrics', schema: 'text' },
    errors: [],
  },
} as const satisfies Record<string, ApiRoute>;

export type ApiRoutes = typeof apiRoutes;

/** The JSON reply of a route, as the client receives it. */
export type ApiReply<K extends keyof ApiRoutes> = ApiRoutes[K]['ok']['schema'] extends z.ZodType
  ? z.output<ApiRoutes[K]['ok']['schema']>
  : string;

export type ErrorReply = z.output<typeof errorReply>;
export type Problem = z.output<typeof problem>;
export type MemberRow = z.output<typeof memberRow>;
export type StatusReply = z.output<typeof statusReply>;
export type HistoryMember = z.output<typeof historyMember>;
export type HistoryReply = z.output<typeof historyReply>;
export type BackupManifestReply = z.output<typeof backupManifest>;
export type BackupsReply = z.output<typeof backupsReply>;
export type DefragReportReply = z.output<typeof defragReport>;
export type JobReply = z.output<typeof job>;
export type JobKind = JobReply['kind'];
/** The result of a job of kind K, as the client receives it. */
export type JobResultReply<K extends JobKind = JobKind> = z.output<(typeof jobResults)[K]>;
export type JobsReply = z.output<typeof jobsReply>;
export type AcceptedReply = z.output<typeof acceptedReply>;
export type DefragBody = z.input<typeof defragBody>;
