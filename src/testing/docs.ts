/**
 * Checks that the docs (README.md, docs/*.md) agree with the program: every command is documented
 * and every example command line parses. Nothing here runs in the tool; docs.test.ts uses it.
 *
 * What counts as an example: a line of a fenced code block, or a code span (`…`) outside fences,
 * that starts (after optional leading spaces, a `$ ` prompt and `VAR=value` assignments) with
 * `etcd-steward ` or `npx etcd-steward `. Fenced lines ending in `\` are joined with the next; a
 * code span that wraps is joined with spaces, and `\|` (a pipe in a table cell) read as `|`.
 * The example ends at the first of: a run of three or more spaces (the description column of a
 * synopsis), ` #` (a comment), ` && `, ` ; `, ` > `, ` 2>`. The rest is split at ` | `: a part that starts with `-` is an alternative of the same
 * command line (`--to-revision R | --to-time T`), a part that starts with anything else is another
 * command of a pipeline and ends the example (`… | kubectl apply -f -`).
 *
 * How an example is checked: brackets and parentheses around a token are dropped (`[--to` → `--to`,
 * `URL]` → `URL`); tokens that are only punctuation or placeholders (`|`, `…`, `...`, `-`) are
 * skipped; a `<placeholder>` stands for any word and ends the subcommand path. Words are read as
 * the subcommand path while the current command has subcommands: such a word must name one
 * (hidden commands included), unless the command also takes arguments. Every
 * `--long` (also `--long=value`) and `-x` token must be an option of the resolved command or of one
 * of its ancestors (`-h`/`--help` always are); the word after an option that takes a value is that
 * value. Words after the subcommand path are arguments and are not checked.
 */
import type { Command, Option } from 'commander';

/** One example command line found in a markdown file. */
export interface DocExample {
  readonly file: string;
  readonly line: number;
  /** The command line as checked (from `etcd-steward` to where the example ends). */
  readonly text: string;
}

const PREFIX = /^(?:\$\s+)?(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(?:npx\s+)?etcd-steward(?:\s+|$)/;
const END = /\s{3,}|\s#|\s&&\s|\s;\s|\s>>?\s|\s2>/;

/** The example command lines of `markdown`: fenced code block lines and code spans (see the module comment). */
export function extractExamples(file: string, markdown: string): DocExample[] {
  const examples: DocExample[] = [];
  const lines = markdown.split('\n');
  const prose: string[] = []; // the lines outside fences; fenced ones blank, so numbers stay
  let fence: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const marker = /^\s*(`{3,}|~{3,})/.exec(raw)?.[1];
    if (marker) {
      if (fence === undefined) fence = marker;
      else if (marker.startsWith(fence)) fence = undefined;
      prose.push('');
      continue;
    }
    if (fence === undefined) {
      prose.push(raw);
      continue;
    }
    prose.push('');
    const start = i;
    let text = raw.trim();
    while (text.endsWith('\\') && i + 1 < lines.length) {
      i++;
      prose.push('');
      text = `${text.slice(0, -1).trimEnd()} ${(lines[i] ?? '').trim()}`;
    }
    const example = exampleOf(text);
    if (example !== undefined) examples.push({ file, line: start + 1, text: example });
  }
  const outside = prose.join('\n');
  for (const span of outside.matchAll(/`([^`]+)`/g)) {
    // A code span may wrap over lines; in a table a `|` inside it is written `\|`.
    const example = exampleOf(
      span[1]!
        .replace(/\s*\n\s*/g, ' ')
        .replace(/\\\|/g, '|')
        .trim(),
    );
    if (example === undefined) continue;
    const line = outside.slice(0, span.index).split('\n').length;
    examples.push({ file, line, text: example });
  }
  return examples.sort((x, y) => x.line - y.line);
}

/** The example `text` holds (from `etcd-steward` to where it ends), or undefined when it holds none. */
function exampleOf(text: string): string | undefined {
  const match = PREFIX.exec(text);
  if (!match) return undefined;
  const rest = text.slice(match[0].length);
  const masked = maskQuotes(rest);
  const end = END.exec(masked)?.index ?? rest.length;
  // Split at ` | ` outside quotes: positions from the masked text, pieces from the real one.
  let kept = '';
  let from = 0;
  for (;;) {
    const bar = masked.indexOf(' | ', from);
    const stop = bar < 0 || bar >= end ? end : bar;
    kept += rest.slice(from, stop);
    if (stop === end) break;
    from = bar + 3;
    if (!rest.slice(from).trimStart().startsWith('-')) break;
    kept += ' ';
  }
  return `etcd-steward ${kept.trim()}`.trim();
}

/** `text` with every quoted string's inside replaced by `_` (same length), so quoted spaces and
 * operators are not read as separators. */
function maskQuotes(text: string): string {
  return text.replace(/'[^']*'|"[^"]*"/g, (m) => `${m[0]}${'_'.repeat(m.length - 2)}${m[0]}`);
}

/** `command` and its ancestors, the program last. */
function chain(command: Command): Command[] {
  const commands: Command[] = [];
  for (let c: Command | null = command; c; c = c.parent) commands.push(c);
  return commands;
}

function findOption(command: Command, flag: string): Option | undefined {
  for (const c of chain(command)) {
    const option = c.options.find((o) => o.long === flag || o.short === flag);
    if (option) return option;
  }
  return undefined;
}

function takesValue(option: Option): boolean {
  return option.required || option.optional;
}

/** Placeholders and punctuation that stand for nothing to parse. */
function isPlaceholder(token: string): boolean {
  return token === '' || token === '-' || /^[|…. ]+$/.test(token) || token === '...';
}

/**
 * What is wrong with `example` for `program` (see the module comment for the rules): an unknown
 * subcommand or an option that neither the command nor an ancestor has. Empty when it parses.
 */
export function checkExample(program: Command, example: string): string[] {
  const tokens = maskQuotes(example.trim()).split(/\s+/).slice(1); // without `etcd-steward`
  const problems: string[] = [];
  const flags: string[] = [];
  let command = program;
  let inPath = true;
  let skipValue = false;
  for (const rawToken of tokens) {
    const token = rawToken
      .replace(/^[[(]+/, '')
      .replace(/[\])]+$/, '')
      .replace(/,$/, '');
    if (isPlaceholder(token)) continue;
    if (token.startsWith('-')) {
      skipValue = false;
      const flag = token.split('=')[0] ?? token;
      flags.push(flag);
      const option = findOption(command, flag);
      if (option && takesValue(option) && !token.includes('=')) skipValue = true;
      continue;
    }
    if (skipValue) {
      skipValue = false;
      continue;
    }
    if (!inPath) continue;
    if (token.startsWith('<')) {
      inPath = false; // a placeholder (`<command path>`, `<file>`) stands for any word
      continue;
    }
    const sub = command.commands.find((c) => c.name() === token || c.aliases().includes(token));
    if (sub) {
      command = sub;
      continue;
    }
    inPath = false;
    if (command.commands.length > 0 && command.registeredArguments.length === 0) {
      const path = chain(command)
        .reverse()
        .map((c) => c.name())
        .join(' ');
      problems.push(`'${path}' has no subcommand '${token}'`);
    }
  }
  const path = chain(command)
    .reverse()
    .map((c) => c.name())
    .join(' ');
  for (const flag of flags) {
    if (flag === '-h' || flag === '--help') continue;
    if (!findOption(command, flag)) problems.push(`'${path}' has no option ${flag}`);
  }
  return problems;
}

/** Every visible command below `program` as its path (`backup create`); `help` and `__…` left out. */
export function commandPaths(program: Command): string[] {
  const walk = (command: Command, prefix: string): string[] =>
    command.commands
      .filter((c) => c.name() !== 'help' && !c.name().startsWith('__'))
      .flatMap((c) => {
        const name = `${prefix}${c.name()}`;
        return [name, ...walk(c, `${name} `)];
      });
  return walk(program, '');
}

/** The command paths that no `etcd-steward <path>` names in `text` (a whole word: not `restore-member` for `restore`). */
export function undocumentedCommands(paths: readonly string[], text: string): string[] {
  return paths.filter((p) => {
    const pattern = new RegExp(`etcd-steward ${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`);
    return !pattern.test(text);
  });
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as `-`. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of the headings of `markdown` (outside fenced code blocks). */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? undefined : /^#{1,6}\s+(.*)$/.exec(line)?.[1];
    if (heading !== undefined) anchors.add(headingAnchor(heading));
  }
  return anchors;
}

/**
 * The relative links of `files` (repo-relative path → markdown) that lead nowhere: a target
 * `exists` says is missing, or an `#anchor` that no heading of the target .md file has.
 * Links to http(s) and mailto are not followed.
 */
export function brokenLinks(
  files: ReadonlyMap<string, string>,
  exists: (repoPath: string) => boolean,
  read: (repoPath: string) => string | undefined,
): string[] {
  const broken: string[] = [];
  for (const [file, text] of files) {
    const outside = text.replace(/^\s*(```|~~~)[\s\S]*?^\s*\1.*$/gm, '');
    for (const link of outside.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = link[1]!;
      if (/^(https?:|mailto:)/.test(target)) continue;
      const [where, anchor] = target.split('#') as [string, string | undefined];
      const repoPath = where === '' ? file : posixJoin(posixDirname(file), where);
      if (!exists(repoPath)) {
        broken.push(`${file}: ${target} (no ${repoPath})`);
        continue;
      }
      if (anchor !== undefined && repoPath.endsWith('.md')) {
        const markdown = files.get(repoPath) ?? read(repoPath) ?? '';
        if (!anchorsOf(markdown).has(anchor)) broken.push(`${file}: ${target} (no heading #${anchor})`);
      }
    }
  }
  return broken;
}

function posixDirname(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/** `dir` + `relative` with `.` and `..` resolved, repo-relative (no leading `/`). */
function posixJoin(dir: string, relative: string): string {
  const parts = dir === '' ? [] : dir.split('/');
  for (const part of relative.replace(/\/$/, '').split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '.' && part !== '') parts.push(part);
  }
  return parts.join('/');
}
