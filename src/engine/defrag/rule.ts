/**
 * The defrag rule: a boolean expression per member over the variables etcd-defrag users know
 * (`dbSize`, `dbSizeInUse`, `dbSizeFree`, `dbQuota`, `dbQuotaUsage`), written in CEL (Common
 * Expression Language, what etcd-defrag's `--defrag-rule` takes) and evaluated by
 * `@marcbachmann/cel-js`: parsed and type-checked once, no `eval`, no user code run.
 *
 * On top of CEL, size literals such as `200MiB` or `1.5GB` are allowed: they are replaced by the
 * number of bytes before parsing (positions in errors still point into the text the user wrote).
 */
import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import { InputError } from '../../errors.js';
import { SIZE_UNITS } from '../../config/units.js';

export const DEFAULT_DEFRAG_RULE = 'dbQuotaUsage > 0.8 || dbSizeFree > 200MiB';

/** The variables a rule can use: sizes are whole bytes (CEL int), the usage a ratio (CEL double). */
export const RULE_VARIABLES = {
  dbSize: 'int',
  dbSizeInUse: 'int',
  dbSizeFree: 'int',
  dbQuota: 'int',
  dbQuotaUsage: 'double',
} as const;

export type RuleVariable = keyof typeof RULE_VARIABLES;

/** One member's values for the rule. `dbSizeFree` = dbSize − dbSizeInUse, `dbQuotaUsage` = dbSize / dbQuota. */
export type RuleValues = Readonly<Record<RuleVariable, number>>;

const VARIABLE_LIST = Object.keys(RULE_VARIABLES).join(', ');

const RULE_HINT = `a rule is a CEL expression over ${VARIABLE_LIST}, e.g. '${DEFAULT_DEFRAG_RULE}'; sizes may be written 200MiB, 1.5GB; operators: < <= > >= == != && || ! + - * / % ( ) ? :`;

/** A rule that does not parse, uses an unknown name, or is not true/false. Exit 2. */
export class RuleError extends InputError {
  /** 1-based column in the rule as written, when the problem has a place. */
  readonly column: number | undefined;

  constructor(rule: string, problem: string, column: number | undefined, hint = RULE_HINT) {
    const where = column === undefined ? '' : ` at column ${column}`;
    const pointer = column === undefined ? '' : `\n  ${rule}\n  ${' '.repeat(column - 1)}^`;
    super(`invalid defrag rule '${rule}'${where}: ${problem}${pointer}`, { hint });
    this.column = column;
  }
}

/** A parsed, type-checked rule, ready to be evaluated for each member. */
export interface CompiledRule {
  /** The rule as the user wrote it. */
  readonly source: string;
  /** What CEL parsed: size literals replaced by bytes. */
  readonly expanded: string;
  /** Whether the rule holds for these values; throws a RuleError when the evaluation fails (e.g. division by zero). */
  holds(values: RuleValues, member?: string): boolean;
}

/** Operators people bring from other languages that CEL does not have, longest first. */
const FOREIGN_OPERATORS = ['>>>', '===', '!==', '>>', '<<', '**', '&', '|', '^', '~', '='];
const CEL_OPERATORS = ['&&', '||', '==', '!=', '<=', '>='];

interface Expanded {
  readonly text: string;
  /** For each character of `text` (and one past the end), its offset in the source. */
  readonly origin: readonly number[];
}

/**
 * Replaces size literals by bytes and refuses operators CEL lacks, keeping a map from the
 * expanded text back to the source so error positions point at what the user typed.
 */
function expand(source: string): Expanded {
  let text = '';
  const origin: number[] = [];
  const emit = (chunk: string, from: number, oneToOne: boolean) => {
    for (let k = 0; k < chunk.length; k += 1) origin.push(oneToOne ? from + k : from);
    text += chunk;
  };
  let i = 0;
  while (i < source.length) {
    const c = source.charAt(i);
    // String literals pass through untouched (a rule has little use for them, but `"1MiB"` is text).
    if (c === '"' || c === "'") {
      const triple = source.startsWith(c.repeat(3), i);
      const close = triple ? c.repeat(3) : c;
      let j = i + close.length;
      while (j < source.length && !source.startsWith(close, j)) j += source.charAt(j) === '\\' ? 2 : 1;
      j = Math.min(source.length, j + close.length);
      emit(source.slice(i, j), i, true);
      i = j;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const word = /[A-Za-z_][A-Za-z0-9_]*/y;
      word.lastIndex = i;
      const token = (word.exec(source) as RegExpExecArray)[0];
      emit(token, i, true);
      i += token.length;
      continue;
    }
    if (/[0-9]/.test(c)) {
      const number = /0[xX][0-9a-fA-F]+[uU]?|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
      number.lastIndex = i;
      const digits = (number.exec(source) as RegExpExecArray)[0];
      const suffix = /(\s*)([A-Za-z][A-Za-z0-9_]*)/y;
      suffix.lastIndex = i + digits.length;
      const [after = '', space = '', word = ''] = suffix.exec(source) ?? [];
      const factor = /^0[xX]/.test(digits) ? undefined : SIZE_UNITS[word.toLowerCase()];
      if (factor !== undefined) {
        // A size such as 200MiB (or 200 MiB): its bytes, as a CEL int.
        emit(BigInt(Math.round(Number(digits) * factor)).toString(), i, false);
        i += digits.length + after.length;
      } else {
        // A plain number, or one with a CEL suffix such as 5u: left to CEL.
        const token = space === '' ? digits + word : digits;
        emit(token, i, true);
        i += token.length;
      }
      continue;
    }
    const cel = CEL_OPERATORS.find((op) => source.startsWith(op, i));
    if (cel) {
      emit(cel, i, true);
      i += cel.length;
      continue;
    }
    const foreign = FOREIGN_OPERATORS.find((op) => source.startsWith(op, i));
    if (foreign) {
      const instead: Record<string, string> = {
        '=': "; compare with '=='",
        '===': "; compare with '=='",
        '!==': "; compare with '!='",
        '&': "; for 'and' write '&&'",
        '|': "; for 'or' write '||'",
      };
      throw new RuleError(
        source,
        `'${foreign}' is not an operator in a rule${instead[foreign] ?? ''}`,
        i + 1,
      );
    }
    emit(c, i, true);
    i += 1;
  }
  origin.push(source.length);
  return { text, origin };
}

let environment: Environment | undefined;

function ruleEnvironment(): Environment {
  if (!environment) {
    let env = new Environment({ limits: { maxAstNodes: 500, maxDepth: 50 } });
    for (const [name, type] of Object.entries(RULE_VARIABLES)) env = env.registerVariable(name, type);
    environment = env;
  }
  return environment;
}

interface CelErrorLike {
  readonly summary?: string;
  readonly message: string;
  readonly range?: { readonly start: number; readonly end: number };
}

const TOKEN_NAMES: Readonly<Record<string, string>> = {
  EOF: 'the end of the rule',
  RPAREN: "')'",
  LPAREN: "'('",
  RBRACKET: "']'",
  LBRACKET: "'['",
  RBRACE: "'}'",
  COLON: "':'",
  COMMA: "','",
};

interface Problem {
  readonly problem: string;
  readonly column: number | undefined;
  readonly hint?: string;
}

/** The library's error in our words, with the column in the rule as written. */
function describeCelError(source: string, expanded: Expanded, error: CelErrorLike): Problem {
  const start = error.range?.start;
  const column = start === undefined ? undefined : (expanded.origin[start] ?? source.length) + 1;
  let problem = error.summary ?? error.message.split('\n')[0] ?? 'does not parse';
  const unknown = /^Unknown variable: (\S+)/.exec(problem);
  if (unknown)
    return { problem: `unknown variable '${unknown[1] ?? ''}'; a rule can use ${VARIABLE_LIST}`, column };
  const unexpected = /^Unexpected token: (\w+)$/.exec(problem);
  if (unexpected && error.range) {
    const text = expanded.text.slice(error.range.start, error.range.end);
    problem =
      unexpected[1] === 'EOF' ? 'the rule ends too early' : `unexpected '${text || (unexpected[1] ?? '')}'`;
  }
  problem = problem.replace(
    /\b(EOF|RPAREN|LPAREN|RBRACKET|LBRACKET|RBRACE|COLON|COMMA)\b/g,
    (t) => TOKEN_NAMES[t] ?? t,
  );
  if (/no such overload: (int|double) [-+*/%] (int|double)/.test(problem)) {
    return {
      problem: `${problem}: CEL does not mix whole numbers and fractions in arithmetic`,
      column,
      hint: 'dbSize, dbSizeInUse, dbSizeFree and dbQuota are whole numbers (int), dbQuotaUsage a double; convert one side, e.g. double(dbSize) * 0.5 or dbQuotaUsage * 100.0',
    };
  }
  return { problem, column };
}

function ruleError(source: string, p: Problem): RuleError {
  return new RuleError(source, p.problem, p.column, p.hint);
}

/** Parses and type-checks a rule; a RuleError (exit 2) says what is wrong and where. */
export function compileRule(source: string): CompiledRule {
  if (source.trim() === '') throw new RuleError(source, 'the rule is empty', undefined);
  const expanded = expand(source);
  let parsed: ParseResult;
  try {
    parsed = ruleEnvironment().parse(expanded.text);
  } catch (error) {
    throw ruleError(source, describeCelError(source, expanded, error as CelErrorLike));
  }
  const checked = parsed.check();
  if (!checked.valid)
    throw ruleError(source, describeCelError(source, expanded, checked.error as CelErrorLike));
  if (checked.type !== 'bool') {
    throw new RuleError(
      source,
      `a rule must be true or false, and this one gives ${checked.type ?? 'no value'}`,
      undefined,
    );
  }
  return {
    source,
    expanded: expanded.text,
    holds(values: RuleValues, member?: string): boolean {
      const context = {
        dbSize: BigInt(Math.round(values.dbSize)),
        dbSizeInUse: BigInt(Math.round(values.dbSizeInUse)),
        dbSizeFree: BigInt(Math.round(values.dbSizeFree)),
        dbQuota: BigInt(Math.round(values.dbQuota)),
        dbQuotaUsage: values.dbQuotaUsage,
      };
      let result: unknown;
      try {
        result = parsed(context);
      } catch (error) {
        const p = describeCelError(source, expanded, error as CelErrorLike);
        const forMember = member === undefined ? '' : ` (evaluating it for member ${member})`;
        throw ruleError(source, { ...p, problem: `${p.problem}${forMember}` });
      }
      if (typeof result !== 'boolean') {
        throw new RuleError(
          source,
          `a rule must be true or false, and this one gave ${String(result)}`,
          undefined,
        );
      }
      return result;
    },
  };
}

/** The rule's variables for one member. */
export function ruleValues(dbSize: number, dbSizeInUse: number, dbQuota: number): RuleValues {
  return {
    dbSize,
    dbSizeInUse,
    dbSizeFree: Math.max(0, dbSize - dbSizeInUse),
    dbQuota,
    dbQuotaUsage: dbQuota > 0 ? dbSize / dbQuota : 0,
  };
}
