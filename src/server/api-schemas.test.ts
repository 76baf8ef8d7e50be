// The API's one description against the real agent: a real local cluster (the main line), the
// agent in-process as `serve` starts it, every route of api-schemas.ts called for real (backup,
// verify, drill and defrag jobs run to their end; then a member SIGKILLed so the replies carry the
// nulls of a member that does not answer). Every reply must parse with its route's strict schema,
// and /api/openapi.json must list every route with exactly the fields the real replies hold — so
// a field added to a reply without its schema fails here twice.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { z } from 'zod';
import { clusterTarget, type GlobalOptions } from '../cli/context.js';
import { startAgentFor } from '../cli/commands/serve.js';
import { Cleanup, tempDir, testLines, upDetached, writeSpec } from '../testing/harness.js';
import type { Agent } from './agent.js';
import { acceptedReply, apiRoutes, errorReply, job as jobSchema, type ApiRoutes } from './api-schemas.js';
import { createLogger } from './logger.js';
import { openApiDocument } from './openapi.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
const quiet = () => createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });

type RouteName = keyof ApiRoutes;
/** Real replies seen, per route (every one is checked against the OpenAPI document at the end). */
const seen = new Map<RouteName, { status: number; body: unknown }[]>();

/** Calls a route for real and parses its reply with the route's schema (or Error's, for 4xx). */
async function call(
  agent: Agent,
  name: RouteName,
  options: { params?: Record<string, string>; body?: unknown; status?: number } = {},
): Promise<unknown> {
  const route = apiRoutes[name];
  const url = route.path.replace(/\{(\w+)\}/g, (_m, key: string) =>
    encodeURIComponent(options.params?.[key] ?? ''),
  );
  const response = await fetch(`${agent.url}${url}`, {
    method: route.method,
    headers: options.body === undefined ? {} : { 'content-type': 'application/json' },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  const expected = options.status ?? route.ok.status;
  assert.equal(response.status, expected, `${route.method} ${url}: ${text}`);
  if (route.ok.schema === 'text') {
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    seen.set(name, [...(seen.get(name) ?? []), { status: expected, body: text }]);
    return text;
  }
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as unknown;
  const schema: z.ZodType = expected === route.ok.status ? route.ok.schema : errorReply;
  const parsed = schema.safeParse(body);
  assert.ok(
    parsed.success,
    `${route.method} ${url} (${expected}) does not match its schema: ${parsed.error?.message}\n${text.slice(0, 2000)}`,
  );
  seen.set(name, [...(seen.get(name) ?? []), { status: expected, body }]);
  return body;
}

/** Polls GET /api/jobs/{id} (each reply parsed) until the job has ended. */
async function finished(agent: Agent, id: string): Promise<z.output<typeof jobSchema>> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const job = jobSchema.parse(await call(agent, 'job', { params: { id } }));
    if (job.finishedAt !== null) return job;
    if (Date.now() > deadline) assert.fail(`job ${id} did not finish: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function submitted(
  agent: Agent,
  name: RouteName,
  options: { params?: Record<string, string>; body?: unknown } = {},
) {
  const { job } = acceptedReply.parse(await call(agent, name, options));
  return finished(agent, job.id);
}

type JsonSchema = {
  $ref?: string;
  type?: string;
  nullable?: boolean;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
};

/**
 * Checks a real value against the document's schema, written independently of zod: every key of
 * every object is a documented property, every required property is there, null only where
 * nullable, types and enums as documented. Returns the problems, each with its JSON path.
 */
function conforms(
  value: unknown,
  schema: JsonSchema,
  doc: { components: { schemas: Record<string, JsonSchema> } },
  at: string,
): string[] {
  if (schema.$ref) {
    const target = doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')];
    return target ? conforms(value, target, doc, at) : [`${at}: ${schema.$ref} is not in components`];
  }
  const options = schema.anyOf ?? schema.oneOf;
  if (options) {
    const results = options.map((o) => conforms(value, o, doc, at));
    return results.some((r) => r.length === 0) ? [] : (results[0] ?? [`${at}: no alternative`]);
  }
  if (value === null)
    return schema.nullable || schema.type === undefined ? [] : [`${at}: null, but not nullable`];
  if (schema.enum && !schema.enum.includes(value))
    return [`${at}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`];
  if (schema.type === undefined) return [];
  if (schema.type === 'array') {
    if (!Array.isArray(value)) return [`${at}: not an array`];
    return value.flatMap((v, i) => conforms(v, schema.items ?? {}, doc, `${at}[${i}]`));
  }
  if (schema.type === 'object') {
    if (typeof value !== 'object' || Array.isArray(value)) return [`${at}: not an object`];
    const record = value as Record<string, unknown>;
    const problems: string[] = [];
    for (const key of schema.required ?? [])
      if (!(key in record)) problems.push(`${at}.${key}: required, missing`);
    for (const [key, v] of Object.entries(record)) {
      const property = schema.properties?.[key];
      if (property) problems.push(...conforms(v, property, doc, `${at}.${key}`));
      else if (typeof schema.additionalProperties === 'object')
        problems.push(...conforms(v, schema.additionalProperties, doc, `${at}.${key}`));
      else if (schema.additionalProperties !== true && schema.properties !== undefined)
        problems.push(`${at}.${key}: in the reply, not in the document`);
    }
    return problems;
  }
  const actual = typeof value === 'number' && schema.type === 'integer' ? 'integer' : typeof value;
  return actual === schema.type ? [] : [`${at}: ${actual}, documented as ${schema.type}`];
}

describe(`the API's schemas against a real agent (etcd ${line})`, () => {
  it('every route replies as its schema says, and /api/openapi.json documents exactly that', async () => {
    const dir = await tempDir(cleanup, 'api-schemas');
    const spec = await writeSpec(dir, {
      etcd: { version: line },
      backup: { storage: './backups', retention: { keepLast: 3 } },
      defrag: { rule: 'dbSize > 0' },
      monitoring: { listen: '127.0.0.1:0', statusInterval: '1s' },
    });
    await upDetached(cleanup, spec);
    const options: GlobalOptions = { config: spec, output: 'json' };
    const agent = await startAgentFor(options, await clusterTarget(options), quiet());
    cleanup.add(() => agent.close());

    // A healthy cluster, before any backup (storage set, catalog empty).
    await call(agent, 'status');
    await call(agent, 'backups');
    await call(agent, 'defragPlan');
    await call(agent, 'jobs');
    await call(agent, 'metrics');

    // Every job kind the API starts, run to its end; prune follows the backup.
    const backup = await submitted(agent, 'createBackup', { body: {} });
    assert.equal(backup.state, 'succeeded', JSON.stringify(backup));
    assert.equal((await submitted(agent, 'verify', { params: { name: 'latest' } })).state, 'succeeded');
    const drill = await submitted(agent, 'drill', { params: { name: 'latest' } });
    assert.equal(drill.state, 'succeeded', JSON.stringify(drill));
    const defrag = await submitted(agent, 'defrag', { body: { confirm: true, compact: true } });
    assert.equal(defrag.state, 'succeeded', JSON.stringify(defrag));
    await call(agent, 'backups'); // now with a verified, drilled backup
    await call(agent, 'history');
    await call(agent, 'jobs');

    // Error replies: the Error schema.
    await call(agent, 'job', { params: { id: 'no-such-job' }, status: 404 });
    await call(agent, 'verify', { params: { name: 'no-such-backup' }, status: 404 });
    await call(agent, 'defrag', { body: { compact: true }, status: 400 });
    await call(agent, 'createBackup', { body: { bogus: 1 }, status: 400 });

    // One member gone: its row (and the plan's pre-flight) carry the nulls of a silent member.
    const state = JSON.parse(await readFile(path.join(dir, 'data', 'state.json'), 'utf8')) as {
      members: { pid: number | null }[];
    };
    const victim = state.members.at(-1)?.pid;
    assert.ok(victim, 'the local runtime recorded the member pids');
    process.kill(victim, 'SIGKILL');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const status = (await call(agent, 'status')) as { members: { health: { ok: boolean } }[] };
      if (status.members.some((m) => !m.health.ok)) break;
      if (Date.now() > deadline) assert.fail('the agent did not see the member go');
      await new Promise((r) => setTimeout(r, 500));
    }
    const refused = (await call(agent, 'defragPlan')) as { outcome: string };
    assert.equal(refused.outcome, 'refused');
    await call(agent, 'history');
    const doc = (await call(agent, 'openapi')) as {
      paths: Record<
        string,
        Record<string, { responses: Record<string, { content: Record<string, { schema: JsonSchema }> }> }>
      >;
      components: { schemas: Record<string, JsonSchema> };
    };

    // Every route was called for real (a route added to the table must be added here too).
    assert.deepEqual([...seen.keys()].sort(), Object.keys(apiRoutes).sort());

    // The document: every route, every status seen, and the real replies match it field by field.
    for (const [name, replies] of seen) {
      const route = apiRoutes[name];
      const operation = doc.paths[route.path]?.[route.method.toLowerCase()];
      assert.ok(operation, `${route.method} ${route.path} is in the document`);
      for (const { status, body } of replies) {
        const response = operation.responses[String(status)];
        assert.ok(response, `${route.method} ${route.path} documents status ${status}`);
        const content = response.content['application/json'] ?? response.content['text/plain'];
        assert.ok(content, `${route.method} ${route.path} ${status} has a content type`);
        const problems = conforms(body, content.schema, doc, `${route.method} ${route.path} ${status}`);
        assert.deepEqual(problems, []);
      }
    }
  });

  it('a reply with a field the schema does not have fails both checks', () => {
    const good = {
      jobs: [
        {
          id: 'x',
          kind: 'backup',
          trigger: 'api',
          state: 'queued',
          createdAt: new Date().toISOString(),
          startedAt: null,
          finishedAt: null,
          durationMs: null,
        },
      ],
    };
    const bad = { jobs: [{ ...good.jobs[0], surprise: 1 }] };
    const doc = openApiDocument() as Parameters<typeof conforms>[2];
    const documented = { $ref: '#/components/schemas/Jobs' };
    assert.equal(apiRoutes.jobs.ok.schema.safeParse(good).success, true);
    assert.deepEqual(conforms(good, documented, doc, 'jobs'), []);
    assert.equal(apiRoutes.jobs.ok.schema.safeParse(bad).success, false);
    assert.deepEqual(conforms(bad, documented, doc, 'jobs'), [
      'jobs.jobs[0].surprise: in the reply, not in the document',
    ]);
    assert.deepEqual(conforms({ jobs: [{ ...good.jobs[0], durationMs: undefined }] }, documented, doc, 'j'), [
      'j.jobs[0].durationMs: undefined, documented as number',
    ]);
  });
});
