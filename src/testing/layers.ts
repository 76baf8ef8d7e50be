/**
 * The import direction between the folders of src/ (DESIGN.md's "Layers"), as data, and a checker
 * that reads import statements with the TypeScript parser. Nothing here runs in the tool: the test
 * beside it (layers.test.ts) checks every src file against these rules.
 *
 * Folders sit in tiers; a file may import its own folder, any folder of a lower tier, and a peer of
 * its own tier only where PEERS lists that import with a reason. Test files, testing/ and bench/
 * may import anything; nothing but tests and bench/ imports testing/; nothing imports bench/;
 * the dashboard's browser script (web/client) imports nothing of ours but types of server/.
 */
import ts from 'typescript';

/** A folder of src/ (its first path segment; `errors` is src/errors.ts, `web/client` the browser script). */
export type Area = string;

/** Higher tiers may import lower ones, never the other way. */
export const TIERS: Readonly<Record<Area, number>> = {
  cli: 4,
  server: 3,
  engine: 2,
  // Adapters and knowledge: they touch the world or know a format; they decide nothing.
  etcd: 1,
  storage: 1,
  runtime: 1,
  snapshot: 1,
  greptime: 1,
  monitoring: 1,
  config: 1,
  // src/errors.ts: every layer's error classes.
  errors: 0,
};

/** Folders outside the tiers and what they may do (see the module comment). */
export const FREE_AREAS: readonly Area[] = ['testing', 'bench'];

/** One allowed import between two folders of the same tier, with the reason it is right. */
export interface PeerImport {
  readonly from: Area;
  readonly to: Area;
  /** Only `import type` (erased at build, no run-time dependency). */
  readonly typeOnly: boolean;
  readonly reason: string;
}

/** The imports between adapters that are allowed; any other is a finding. */
export const PEERS: readonly PeerImport[] = [
  {
    from: 'etcd',
    to: 'snapshot',
    typeOnly: false,
    reason:
      "one KeyValue type and one protobuf wire reader (snapshot/etcd-records.ts) for etcd's messages: member reads, watch events, unary replies and snapshot reads",
  },
  {
    from: 'config',
    to: 'etcd',
    typeOnly: true,
    reason: 'connection settings are resolved into the shape the etcd client takes (ConnectionOptions)',
  },
  {
    from: 'config',
    to: 'storage',
    typeOnly: true,
    reason: 'S3 settings are resolved into the shape the S3 backend takes',
  },
  { from: 'runtime', to: 'config', typeOnly: false, reason: 'a runtime runs the cluster the spec describes' },
  {
    from: 'runtime',
    to: 'monitoring',
    typeOnly: false,
    reason: 'the Kubernetes manifests carry the alert rules and the Grafana dashboard',
  },
  { from: 'monitoring', to: 'config', typeOnly: false, reason: 'alert thresholds come from the spec' },
  {
    from: 'greptime',
    to: 'runtime',
    typeOnly: false,
    reason: 're-pointing a GreptimeDBCluster goes through the Kubernetes client of runtime/kubernetes',
  },
];

/** One import statement of a file: what it names and whether it is erased at build. */
export interface ImportRef {
  readonly specifier: string;
  readonly typeOnly: boolean;
  /** 1-based line of the statement. */
  readonly line: number;
}

/** Every import of a file: static imports and re-exports, `import()` calls, `typeof import()` types. */
export function importsOf(fileName: string, text: string): ImportRef[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false);
  const found: ImportRef[] = [];
  const add = (node: ts.Node, literal: ts.Expression | undefined, typeOnly: boolean) => {
    if (literal && ts.isStringLiteralLike(literal)) {
      const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      found.push({ specifier: literal.text, typeOnly, line });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            named !== undefined &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((e) => e.isTypeOnly)));
      add(node, node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node)) {
      add(node, node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument)) add(node, argument.literal, true);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The area of a path relative to src/ (`cli/commands/up.ts` → `cli`, `errors.ts` → `errors`). */
export function areaOf(relative: string): Area {
  const parts = relative.split('/');
  if (parts.length === 1) return (parts[0] ?? '').replace(/\.(d\.)?[jt]s$/, '');
  if (parts[0] === 'web' && parts[1] === 'client') return 'web/client';
  return parts[0] ?? '';
}

/** A rule broken by one import. */
export interface LayerFinding {
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
  readonly rule: string;
}

/**
 * The rule an import from `file` (relative to src/, POSIX separators) to `target` (the imported
 * file, relative to src/) breaks, or undefined when it is allowed.
 */
export function checkImport(file: string, target: string, typeOnly: boolean): string | undefined {
  const from = areaOf(file);
  const to = areaOf(target);
  if (target.startsWith('../')) return `imports outside src/ by a relative path`;
  const isTest = file.endsWith('.test.ts');
  if (to === 'bench' && from !== 'bench')
    return 'nothing imports bench/ (the benchmark is a program of its own)';
  if (to === 'testing' && !isTest && !FREE_AREAS.includes(from)) {
    return 'only tests, testing/ and bench/ import testing/ (the test harness never ships in a command)';
  }
  if (from === to) return undefined;
  if (from === 'web/client') {
    return to === 'server' && typeOnly
      ? undefined
      : `web/client (the browser script) imports nothing of ours but types of server/ (\`import type\`); ${to}/ is not that`;
  }
  if (to === 'web/client') return 'web/client is the browser script: served as a file, never imported';
  if (isTest || FREE_AREAS.includes(from)) return undefined;
  const fromTier = TIERS[from];
  const toTier = TIERS[to];
  if (fromTier === undefined) return `${from}/ is in no tier: add it to TIERS in src/testing/layers.ts`;
  if (toTier === undefined) return `${to}/ is in no tier: add it to TIERS in src/testing/layers.ts`;
  if (toTier < fromTier) return undefined;
  if (toTier > fromTier) {
    return `${from}/ (tier ${fromTier}) must not import ${to}/ (tier ${toTier}): the arrows only point down (cli > server > engine > adapters > errors)`;
  }
  const peer = PEERS.find((p) => p.from === from && p.to === to);
  if (peer && (typeOnly || !peer.typeOnly)) return undefined;
  if (peer) return `${from}/ may import only types of ${to}/ (\`import type\`): ${peer.reason}`;
  return `${from}/ and ${to}/ are peers (tier ${fromTier}); a peer import needs an entry in PEERS (src/testing/layers.ts) with its reason`;
}
