// Generates src/etcd/etcd-api.generated.ts from proto/etcd-v3.proto: every message's fields
// (number, JS name, type, repeated, oneof), the enums and the services' methods, as plain data
// for the hand codec in src/etcd/wire-codec.ts. So nothing parses a .proto file at run time.
// Our .proto is a small proto3 file written for this project (messages, nested enums, oneofs,
// services); this parser reads exactly that much and refuses anything else.
// `npm run build` runs it first; src/etcd/wire-codec.test.ts checks the committed file is current.
// Usage: node scripts/gen-etcd-api.mjs [--check]   (--check: exit 1 if the file is not current)
import { readFileSync, writeFileSync } from 'node:fs';
import { URL, fileURLToPath } from 'node:url';

const ROOT = new URL('..', import.meta.url);
const PROTO = fileURLToPath(new URL('proto/etcd-v3.proto', ROOT));
const OUT = fileURLToPath(new URL('src/etcd/etcd-api.generated.ts', ROOT));

/** protobufjs' (and so @grpc/proto-loader's) camelCase of a field name: `_x` → `X`. */
const camel = (name) => name.replace(/_([a-zA-Z0-9])/g, (_, c) => c.toUpperCase());

/** Parses the .proto text into { messages, enums, services }. */
export function parseProto(text) {
  const tokens = text
    .replace(/\/\/[^\n]*/g, '')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .match(/[A-Za-z_][\w.]*|\d+|"[^"]*"|[{}();=<>,]/g);
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];
  const expect = (t) => {
    if (tokens[i] !== t) throw new Error(`proto: expected '${t}' at token ${i}, got '${tokens[i]}'`);
    i += 1;
  };
  const messages = {};
  const enums = {};
  const services = {};
  const parseEnum = () => {
    const name = next();
    expect('{');
    const values = {};
    while (peek() !== '}') {
      const value = next();
      expect('=');
      values[Number(next())] = value;
      expect(';');
    }
    expect('}');
    if (enums[name]) throw new Error(`proto: enum ${name} declared twice`);
    enums[name] = values;
  };
  const parseField = (fields, oneof) => {
    let repeated = false;
    if (peek() === 'repeated') {
      next();
      repeated = true;
    }
    const type = next();
    const name = next();
    expect('=');
    const number = Number(next());
    expect(';');
    const field = { number, name: camel(name), type };
    if (repeated) field.repeated = true;
    if (oneof) field.oneof = oneof;
    fields.push(field);
  };
  const parseMessage = () => {
    const name = next();
    expect('{');
    const fields = [];
    while (peek() !== '}') {
      if (peek() === 'enum') {
        next();
        parseEnum();
      } else if (peek() === 'message') {
        next();
        parseMessage();
      } else if (peek() === 'oneof') {
        next();
        const oneof = camel(next());
        expect('{');
        while (peek() !== '}') parseField(fields, oneof);
        expect('}');
      } else parseField(fields);
    }
    expect('}');
    if (messages[name]) throw new Error(`proto: message ${name} declared twice`);
    messages[name] = fields;
  };
  const parseService = () => {
    const name = next();
    expect('{');
    const methods = {};
    while (peek() !== '}') {
      expect('rpc');
      const method = next();
      expect('(');
      const requestStream = peek() === 'stream' && Boolean(next());
      const request = next();
      expect(')');
      expect('returns');
      expect('(');
      const responseStream = peek() === 'stream' && Boolean(next());
      const response = next();
      expect(')');
      expect(';');
      methods[method] = { request, response, requestStream, responseStream };
    }
    expect('}');
    services[name] = methods;
  };
  let pkg = '';
  while (i < tokens.length) {
    const t = next();
    if (t === 'syntax') {
      expect('=');
      if (next() !== '"proto3"') throw new Error('proto: only proto3 is supported');
      expect(';');
    } else if (t === 'package') {
      pkg = next();
      expect(';');
    } else if (t === 'message') parseMessage();
    else if (t === 'enum') parseEnum();
    else if (t === 'service') parseService();
    else throw new Error(`proto: unexpected '${t}'`);
  }
  const scalars = new Set(['int64', 'uint64', 'int32', 'uint32', 'bool', 'string', 'bytes']);
  for (const [name, fields] of Object.entries(messages)) {
    for (const f of fields) {
      if (!scalars.has(f.type) && !messages[f.type] && !enums[f.type])
        throw new Error(`proto: ${name}.${f.name} has an unknown type ${f.type}`);
    }
  }
  for (const methods of Object.values(services))
    for (const m of Object.values(methods))
      for (const t of [m.request, m.response])
        if (!messages[t]) throw new Error(`proto: service method uses an unknown message ${t}`);
  return { pkg, messages, enums, services };
}

/** The generated TypeScript source. */
export function generate(text) {
  const { pkg, messages, enums, services } = parseProto(text);
  const json = (value) => JSON.stringify(value);
  const lines = [
    '// Generated by scripts/gen-etcd-api.mjs from proto/etcd-v3.proto: do not edit by hand.',
    '// `npm run build` regenerates it; src/etcd/wire-codec.test.ts checks it is current.',
    "import type { FieldSpec, MethodSpec } from './wire-codec.js';",
    '',
    '/** The protobuf package of the services (the gRPC path is /PACKAGE.Service/Method). */',
    `export const PACKAGE = ${json(pkg)};`,
    '',
    '/** Every message: its fields with number, JS name (camelCase), type, repeated and oneof. */',
    'export const MESSAGES: Readonly<Record<string, readonly FieldSpec[]>> = {',
    ...Object.entries(messages).map(([name, fields]) => `  ${name}: ${json(fields)},`),
    '};',
    '',
    '/** Every enum: number → name. */',
    'export const ENUMS: Readonly<Record<string, Readonly<Record<number, string>>>> = {',
    ...Object.entries(enums).map(([name, values]) => `  ${name}: ${json(values)},`),
    '};',
    '',
    '/** Every service: method → request and response message, streaming or not. */',
    'export const SERVICES = {',
    ...Object.entries(services).flatMap(([name, methods]) => [
      `  ${name}: {`,
      ...Object.entries(methods).map(([m, spec]) => `    ${m}: ${json(spec)},`),
      '  },',
    ]),
    '} as const satisfies Record<string, Record<string, MethodSpec>>;',
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const source = generate(readFileSync(PROTO, 'utf8'));
  let current = '';
  try {
    current = readFileSync(OUT, 'utf8');
  } catch {
    // not there yet
  }
  if (process.argv.includes('--check')) {
    if (current !== source) {
      console.error(`${OUT} is not current: run node scripts/gen-etcd-api.mjs`);
      process.exit(1);
    }
  } else if (current !== source) writeFileSync(OUT, source);
}
