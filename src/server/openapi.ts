/**
 * The OpenAPI 3 description of the agent's HTTP API, served at /api/openapi.json, generated from
 * the zod schemas and the route table in api-schemas.ts (nothing about a reply is written here).
 */
import { z } from 'zod';
import { apiRoutes, namedSchemas, type ApiRoute } from './api-schemas.js';

type JsonSchema = Record<string, unknown>;

const REF = '#/components/schemas/';

/** The named schemas as OpenAPI 3.0 components; a schema used inside another becomes a $ref. */
function components(): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(namedSchemas)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'openapi-3.0',
    uri: (id) => `${REF}${id}`,
    // zod spells a date-time out as a regular expression too; the format says it.
    override: ({ jsonSchema }) => {
      if (jsonSchema.format === 'date-time') delete jsonSchema.pattern;
    },
  });
  const out: Record<string, JsonSchema> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    const { $id: _id, $schema: _schema, ...rest } = schema as JsonSchema;
    out[id] = rest;
  }
  return out;
}

/** The schema of a reply: a $ref when it is a named component, else inline. */
function schemaOf(schema: z.ZodType): JsonSchema {
  const id = Object.entries(namedSchemas).find(([, s]) => s === schema)?.[0];
  if (id) return { $ref: `${REF}${id}` };
  const { $schema: _schema, ...rest } = z.toJSONSchema(schema, { target: 'openapi-3.0' }) as JsonSchema;
  return rest;
}

function operation(route: ApiRoute): JsonSchema {
  const responses: Record<string, JsonSchema> = {
    [route.ok.status]: {
      description: route.ok.description,
      content:
        route.ok.schema === 'text'
          ? { 'text/plain': { schema: { type: 'string' } } }
          : { 'application/json': { schema: schemaOf(route.ok.schema) } },
    },
  };
  for (const status of route.errors)
    responses[status] = {
      description: 'An error: what went wrong and, when known, the fix',
      content: { 'application/json': { schema: { $ref: `${REF}Error` } } },
    };
  return {
    summary: route.summary,
    ...(route.mutating ? { security: [{ bearer: [] }, {}] } : {}),
    ...(route.params
      ? {
          parameters: Object.entries(route.params).map(([name, description]) => ({
            name,
            in: 'path',
            required: true,
            schema: { type: 'string' },
            description,
          })),
        }
      : {}),
    ...(route.body
      ? {
          requestBody: {
            required: route.body.required,
            content: { 'application/json': { schema: schemaOf(route.body.schema) } },
          },
        }
      : {}),
    responses,
  };
}

let built: object | undefined;

/** The document (built once: the schemas do not change while the agent runs). */
export function openApiDocument(): object {
  if (built) return built;
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of Object.values(apiRoutes) as ApiRoute[])
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route);
  built = {
    openapi: '3.0.3',
    info: {
      title: 'etcd-steward agent',
      version: '1',
      description:
        'Status, history, backups, defrag and jobs of one etcd cluster. POST routes need `Authorization: Bearer <token>` when the agent listens beyond loopback. A field the agent does not know is `null`, never left out.',
    },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: components(),
    },
  };
  return built;
}
