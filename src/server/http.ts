/**
 * The agent's HTTP server (fastify): the JSON API under /api, /metrics, and the dashboard's
 * static files at /. Errors are `{ error, hint? }` with a 4xx/5xx status; request bodies are
 * validated; mutating routes need the bearer token when one is set (listening beyond loopback).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fastify, type FastifyReply } from 'fastify';
import type { z } from 'zod';
import { StewardError, describeError } from '../errors.js';
import type { AgentCore } from './agent.js';
import {
  apiRoutes,
  defragBody,
  emptyBody,
  type ApiRoutes,
  type ErrorReply,
  type Sendable,
} from './api-schemas.js';
import { bearerMatches } from './auth.js';
import type { Logger } from './logger.js';
import { openApiDocument } from './openapi.js';

export interface HttpServer {
  readonly url: string;
  close(): Promise<void>;
}

export interface HttpOptions {
  readonly host: string;
  readonly port: number;
  /** Required on POST routes when set. */
  readonly token: string | undefined;
  readonly webDir: string;
  readonly log: Logger;
}

/** The dashboard's files under dist/web (the build writes them; see scripts/bundle.mjs). */
const WEB_FILES = new Set(['index.html', 'app.js', 'app.js.map', 'style.css']);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
};

const NOT_BUILT = `<!doctype html><html><head><meta charset="utf-8"><title>etcd-steward</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>etcd-steward</h1><p>The dashboard was not built (no dist/web in this package): run <code>npm run build</code>.</p>
<p>The API works: <a href="/api/status">/api/status</a>, <a href="/api/openapi.json">/api/openapi.json</a>, <a href="/metrics">/metrics</a>.</p>
</body></html>
`;

/** Sends JSON with undefined fields as null, as `-o json` prints them. */
function sendJson(reply: FastifyReply, code: number, value: unknown): FastifyReply {
  return reply
    .code(code)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(value, (_key, v: unknown) => (v === undefined ? null : v)));
}

type JsonRoute = {
  [K in keyof ApiRoutes]: ApiRoutes[K]['ok']['schema'] extends z.ZodType ? K : never;
}[keyof ApiRoutes];

/**
 * Sends a route's success reply, typed by its schema in api-schemas.ts. Not parsed here: the API
 * test parses every route's real reply with its (strict) schema, and a reply that failed a parse
 * in production would cost the user an answer for a field the schema missed.
 */
function sendReply<K extends JsonRoute>(
  reply: FastifyReply,
  route: K,
  value: Sendable<z.output<ApiRoutes[K]['ok']['schema']>>,
): FastifyReply {
  return sendJson(reply, apiRoutes[route].ok.status, value);
}

/** Sends an error reply (the Error schema). */
function sendError(reply: FastifyReply, code: number, value: ErrorReply): FastifyReply {
  return sendJson(reply, code, value);
}

/** Fastify's form of an OpenAPI path: /api/jobs/{id} → /api/jobs/:id. */
function fastifyPath(route: keyof ApiRoutes): string {
  return apiRoutes[route].path.replace(/\{(\w+)\}/g, ':$1');
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new HttpError(400, `invalid request body: ${where}${issue?.message ?? 'not valid'}`);
  }
  return parsed.data;
}

class HttpError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

export async function startHttp(core: AgentCore, options: HttpOptions): Promise<HttpServer> {
  const app = fastify({ logger: false, bodyLimit: 64 * 1024 });
  // An empty JSON body is an empty object (POST /api/backups needs none).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body).trim();
    if (text === '') return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new HttpError(400, 'the request body is not JSON'), undefined);
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const status =
      error instanceof HttpError
        ? error.statusCode
        : error instanceof StewardError
          ? error.exitCode === 2
            ? /no backup named|no backups/.test(error.message)
              ? 404
              : 409
            : 500
          : typeof (error as { statusCode?: unknown }).statusCode === 'number'
            ? (error as { statusCode: number }).statusCode
            : 500;
    if (status >= 500)
      options.log.error({ route: request.url, error: describeError(error) }, 'request failed');
    const hint = error instanceof StewardError ? error.hint : undefined;
    return sendError(reply, status, { error: describeError(error), ...(hint ? { hint } : {}) });
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, { error: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` }),
  );

  app.addHook('onRequest', async (request, reply) => {
    if (options.token === undefined || request.method === 'GET' || request.method === 'HEAD') return;
    if (!bearerMatches(request.headers.authorization, options.token)) {
      return sendError(reply, 401, {
        error: 'this call changes the cluster and needs the API token',
        hint: 'send the header Authorization: Bearer <token> (the token is in the agent’s monitoring.tokenEnv or tokenFile)',
      });
    }
  });

  app.get(fastifyPath('status'), async (_request, reply) => {
    const { status, checkedAt, problems } = core.status();
    return sendReply(reply, 'status', {
      cluster: {
        name: core.clusterName,
        id: status?.clusterId,
        leaderId: status?.leaderId,
        healthy: status?.healthy ?? false,
      },
      checkedAt,
      members: (status?.members ?? []).map((m) => ({ ...m, cutOff: m.cutOff })),
      problems,
    });
  });

  app.get(fastifyPath('history'), async (_request, reply) =>
    sendReply(reply, 'history', {
      windowSeconds: core.history.windowMs / 1000,
      samples: core.history.list(),
    }),
  );

  app.get(fastifyPath('backups'), async (_request, reply) =>
    sendReply(reply, 'backups', {
      storage: core.storage?.displayUrl ?? null,
      backups: core.storage ? await core.listBackups() : [],
    }),
  );
  app.post(fastifyPath('createBackup'), async (request, reply) => {
    parseBody(emptyBody, request.body);
    return sendReply(reply, 'createBackup', { job: core.submitBackup('api') });
  });
  app.post<{ Params: { name: string } }>(fastifyPath('verify'), async (request, reply) => {
    parseBody(emptyBody, request.body);
    return sendReply(reply, 'verify', { job: await core.submitVerify(request.params.name) });
  });
  app.post<{ Params: { name: string } }>(fastifyPath('drill'), async (request, reply) => {
    parseBody(emptyBody, request.body);
    return sendReply(reply, 'drill', { job: await core.submitDrill(request.params.name, 'api') });
  });

  app.get(fastifyPath('defragPlan'), async (_request, reply) =>
    sendReply(reply, 'defragPlan', await core.defragPlan()),
  );
  app.post(fastifyPath('defrag'), async (request, reply) => {
    const body = parseBody(defragBody, request.body);
    return sendReply(reply, 'defrag', { job: core.submitDefrag('api', body.compact) });
  });

  app.get(fastifyPath('jobs'), async (_request, reply) =>
    sendReply(reply, 'jobs', { jobs: core.jobs.list() }),
  );
  app.get<{ Params: { id: string } }>(fastifyPath('job'), async (request, reply) => {
    const job = core.jobs.get(request.params.id);
    if (!job) throw new HttpError(404, `no job '${request.params.id}' (the agent keeps the newest 200)`);
    return sendReply(reply, 'job', job);
  });

  app.get(fastifyPath('openapi'), async (_request, reply) =>
    sendReply(reply, 'openapi', openApiDocument() as Record<string, unknown>),
  );

  app.get(fastifyPath('metrics'), async (_request, reply) =>
    reply
      .code(200)
      .type(core.registry.contentType)
      .send(await core.registry.metrics()),
  );

  const webRoot = path.resolve(options.webDir);
  app.get('/*', async (request, reply) => {
    const urlPath = decodeURIComponent(request.url.split('?')[0] ?? '/');
    if (urlPath.startsWith('/api/')) throw new HttpError(404, `no route GET ${urlPath}`);
    const relative = urlPath === '/' ? 'index.html' : urlPath.slice(1);
    // Only the page's own files: dist/web also holds the compiled browser tests.
    if (!WEB_FILES.has(relative)) throw new HttpError(404, `no file ${urlPath}`);
    const file = path.resolve(webRoot, relative);
    const isFile = await stat(file).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!isFile) {
      if (urlPath === '/' || urlPath === '/index.html')
        return reply
          .code(200)
          .type(TYPES['.html'] as string)
          .send(NOT_BUILT);
      throw new HttpError(404, `no file ${urlPath}`);
    }
    const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    return reply
      .code(200)
      .type(type)
      .header('cache-control', 'no-cache')
      .send(await readFile(file));
  });

  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
    throw new StewardError(
      code === 'EADDRINUSE'
        ? `the agent cannot listen on ${where}: another process uses that port`
        : `the agent cannot listen on ${where}: ${describeError(error)}`,
      { hint: 'stop that process, or choose another address with monitoring.listen (or --listen)' },
    );
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shownHost =
    options.host === '0.0.0.0'
      ? '127.0.0.1'
      : options.host === '::'
        ? '[::1]'
        : options.host.includes(':')
          ? `[${options.host}]`
          : options.host;
  return {
    url: `http://${shownHost}:${port}`,
    close: () => app.close(),
  };
}
