/** The OpenAPI 3 description of the agent's HTTP API, served at /api/openapi.json. */

const error = {
  description: 'An error: what went wrong and, when known, the fix',
  content: {
    'application/json': {
      schema: { $ref: '#/components/schemas/Error' },
    },
  },
};

const accepted = {
  description: 'The job was queued; poll GET /api/jobs/{id}',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['job'],
        properties: { job: { $ref: '#/components/schemas/Job' } },
      },
    },
  },
};

const json = (schema: object, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const mutating = { security: [{ bearer: [] }, {}] };

const nameParam = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'a backup name, or latest',
};

export function openApiDocument(): object {
  return {
    openapi: '3.0.3',
    info: {
      title: 'etcd-steward agent',
      version: '1',
      description:
        'Status, history, backups, defrag and jobs of one etcd cluster. POST routes need `Authorization: Bearer <token>` when the agent listens beyond loopback.',
    },
    paths: {
      '/api/status': {
        get: {
          summary: 'Cluster status from the last poll, with the current problems',
          responses: { 200: json({ $ref: '#/components/schemas/Status' }, 'The status') },
        },
      },
      '/api/history': {
        get: {
          summary: 'Status samples kept in memory for monitoring.historyWindow',
          responses: { 200: json({ $ref: '#/components/schemas/History' }, 'Samples, oldest first') },
        },
      },
      '/api/backups': {
        get: {
          summary: 'The backup catalog (oldest first) and the storage it is in (no credentials)',
          responses: {
            200: json(
              {
                type: 'object',
                required: ['storage', 'backups'],
                properties: {
                  storage: { type: 'string', nullable: true },
                  backups: { type: 'array', items: { $ref: '#/components/schemas/Manifest' } },
                },
              },
              'The catalog',
            ),
          },
        },
        post: {
          summary: 'Take a backup now (then prune by the retention rule)',
          ...mutating,
          requestBody: {
            required: false,
            content: { 'application/json': { schema: { type: 'object', additionalProperties: false } } },
          },
          responses: { 202: accepted, 400: error, 401: error, 409: error },
        },
      },
      '/api/backups/{name}/verify': {
        post: {
          summary: 'Re-read a stored backup end to end and record the verdict',
          ...mutating,
          parameters: [nameParam],
          responses: { 202: accepted, 401: error, 404: error },
        },
      },
      '/api/backups/{name}/drill': {
        post: {
          summary: 'Restore a backup into a throwaway cluster and compare',
          ...mutating,
          parameters: [nameParam],
          responses: { 202: accepted, 401: error, 404: error },
        },
      },
      '/api/defrag/plan': {
        get: {
          summary: 'The defrag dry run: the same JSON as `etcd-steward defrag --dry-run -o json`',
          responses: { 200: json({ type: 'object' }, 'The defrag report of a dry run') },
        },
      },
      '/api/defrag': {
        post: {
          summary: 'Run a rolling defrag with the spec’s rule',
          ...mutating,
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['confirm'],
                  additionalProperties: false,
                  properties: {
                    confirm: { type: 'boolean', enum: [true] },
                    compact: { type: 'boolean', description: 'compact to the current revision first' },
                  },
                },
              },
            },
          },
          responses: { 202: accepted, 400: error, 401: error },
        },
      },
      '/api/jobs': {
        get: {
          summary: 'Jobs, newest first (the newest 200 finished ones are kept)',
          responses: {
            200: json(
              {
                type: 'object',
                properties: { jobs: { type: 'array', items: { $ref: '#/components/schemas/Job' } } },
              },
              'Jobs',
            ),
          },
        },
      },
      '/api/jobs/{id}': {
        get: {
          summary: 'One job',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { 200: json({ $ref: '#/components/schemas/Job' }, 'The job'), 404: error },
        },
      },
      '/api/openapi.json': {
        get: { summary: 'This document', responses: { 200: json({ type: 'object' }, 'OpenAPI 3') } },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics (text format), prefix etcd_steward_',
          responses: {
            200: { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } },
          },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'string' }, hint: { type: 'string' } },
        },
        Job: {
          type: 'object',
          required: ['id', 'kind', 'trigger', 'state', 'createdAt', 'startedAt', 'finishedAt', 'durationMs'],
          properties: {
            id: { type: 'string' },
            kind: { type: 'string', enum: ['backup', 'prune', 'verify', 'drill', 'defrag', 'snapshot'] },
            trigger: { type: 'string', enum: ['schedule', 'api'] },
            state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'aborted'] },
            createdAt: { type: 'string', format: 'date-time' },
            startedAt: { type: 'string', format: 'date-time', nullable: true },
            finishedAt: { type: 'string', format: 'date-time', nullable: true },
            durationMs: { type: 'number', nullable: true },
            result: { description: 'what the job did (kind-specific)' },
            error: { type: 'string' },
            hint: { type: 'string' },
          },
        },
        Problem: {
          type: 'object',
          required: ['id', 'severity', 'message'],
          properties: {
            id: {
              type: 'string',
              description:
                'no-leader, member-down, alarm, backup-stale, backup-failing, drill-failing, defrag-failing (and changelog-gap, changelog-lag with continuous backups)',
            },
            severity: { type: 'string', enum: ['critical', 'warning'] },
            message: { type: 'string' },
          },
        },
        Status: {
          type: 'object',
          required: ['cluster', 'checkedAt', 'members', 'problems'],
          properties: {
            cluster: {
              type: 'object',
              properties: {
                name: { type: 'string' },
                id: { type: 'string', nullable: true },
                leaderId: { type: 'string', nullable: true },
                healthy: { type: 'boolean' },
              },
            },
            checkedAt: { type: 'string', format: 'date-time', nullable: true },
            members: {
              type: 'array',
              description: 'rows as `etcd-steward status -o json` prints them',
              items: { type: 'object' },
            },
            problems: { type: 'array', items: { $ref: '#/components/schemas/Problem' } },
          },
        },
        History: {
          type: 'object',
          properties: {
            windowSeconds: { type: 'number' },
            samples: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  t: { type: 'number', description: 'ms since the epoch' },
                  members: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: {
                        name: { type: 'string' },
                        dbSize: { type: 'number', nullable: true },
                        dbSizeInUse: { type: 'number', nullable: true },
                        raftIndex: { type: 'number', nullable: true },
                        appliedLag: { type: 'number', nullable: true },
                        isLeader: { type: 'boolean' },
                        healthy: { type: 'boolean' },
                      },
                    },
                  },
                },
              },
            },
          },
        },
        Manifest: { type: 'object', description: 'a backup manifest as `backup list -o json` prints it' },
      },
    },
  };
}
