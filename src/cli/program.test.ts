// The program as built by buildProgram(), without running it: every command of the CLI contract is
// there with its help; each command's help lists the global flags; commands built in their own
// files get the program's error handling (a bad flag throws to main.ts instead of exiting).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommanderError, type Command } from 'commander';
import { EXAMPLES } from './examples.js';
import { buildProgram } from './program.js';

const GLOBAL_FLAGS = [
  '-c, --config <file>',
  '-o, --output <format>',
  '--endpoints <list>',
  '--cacert <file>',
  '--cert <file>',
  '--key <file>',
  '--insecure-skip-tls-verify',
  '--user <name[:password]>',
  '--password <password>',
  '--dial-timeout <duration>',
  '--command-timeout <duration>',
  '--etcd-bin <file>',
];

/** Every command below `command`, as [full name, command]. */
function allCommands(command: Command, prefix = ''): [string, Command][] {
  return command.commands.flatMap((c): [string, Command][] => {
    const name = `${prefix}${c.name()}`;
    return [[name, c], ...allCommands(c, `${name} `)];
  });
}

describe('program', () => {
  const program = buildProgram({ code: 0 });
  const commands = new Map(allCommands(program));

  it('has every command of the CLI contract, each with a description', () => {
    for (const name of [
      'up',
      'down',
      'status',
      'backup create',
      'backup list',
      'backup verify',
      'backup prune',
      'backup delete',
      'backup import',
      'snapshot inspect',
      'snapshot diff',
      'restore',
      'restore-member',
      'member-init',
      'defrag',
      'serve',
      'render alerts',
      'render grafana',
      'render kubernetes',
      'import bitnami',
      'apply',
      'greptimedb repoint',
      'install-etcd',
    ]) {
      assert.ok(commands.has(name), `no command '${name}'; there are: ${[...commands.keys()].join(', ')}`);
    }
    for (const [name, command] of commands) {
      assert.ok(command.description().length > 10, `'${name}' has no description`);
    }
  });

  it("every command's help lists its own flags and the global flags", () => {
    for (const [name, command] of commands) {
      const help = command.helpInformation();
      for (const flag of GLOBAL_FLAGS)
        assert.ok(help.includes(flag), `'${name} --help' lacks ${flag}:\n${help}`);
      for (const option of command.options) {
        assert.ok(help.includes(option.flags), `'${name} --help' lacks ${option.flags}`);
      }
    }
    // Help wraps at the terminal's width: compare with runs of white space as one space.
    const flat = (help: string | undefined) => (help ?? '').replace(/\s+/g, ' ');
    const restore = flat(commands.get('restore')?.helpInformation());
    assert.match(restore, /--to-revision <revision> point in time: the newest backup at or before it/);
    const create = flat(commands.get('backup create')?.helpInformation());
    assert.match(create, /--no-prune do not apply the retention rule afterwards/);
    assert.match(create, /--storage <url>/, 'the parent command’s --storage is a global of its subcommands');
    assert.match(
      flat(program.helpInformation()),
      /-o, --output <format> output format \(wide: every column\) \(choices: "table", "wide", "json", default: "table", env: ETCDCTL_WRITE_OUT\)/,
    );
  });

  it('every command has examples in its help, and every flag they use exists', () => {
    const program = buildProgram({ code: 0 });
    const leaves: [string, Command[]][] = [];
    const walk = (parent: Command, chain: Command[]) => {
      for (const command of parent.commands) {
        if (command.name() === 'help' || command.name().startsWith('__')) continue;
        const here = [...chain, command];
        if (command.commands.length === 0) leaves.push([here.map((c) => c.name()).join(' '), here]);
        walk(command, here);
      }
    };
    walk(program, []);
    for (const [path, chain] of leaves) {
      const examples = EXAMPLES[path];
      assert.ok(examples && examples.length > 0, `${path} has no example`);
      const command = chain.at(-1) as Command;
      assert.match(
        command.helpInformation() + helpAfter(command),
        /Examples:/,
        `${path}: examples in --help`,
      );
      const known = new Set(
        [program, ...chain].flatMap((c) => c.options.flatMap((o) => [o.long, o.short])).filter(Boolean),
      );
      for (const example of examples) {
        const all = example.replace(/#.*$/, '').trim().split(/\s+/);
        // After `--` come another program's arguments (member-init: etcd's flags).
        const words = all.includes('--') ? all.slice(0, all.indexOf('--')) : all;
        if (words[0] !== 'etcd-steward') continue; // e.g. `source <(…)`
        assert.equal(words.slice(1, 1 + chain.length).join(' '), path, `${example}: names its command`);
        for (const flag of words.filter((w) => w.startsWith('-')).map((w) => w.split('=')[0] as string))
          assert.ok(known.has(flag), `${path}: example uses ${flag}, which the command does not have`);
      }
    }
  });

  it('a bad flag on any command throws a CommanderError (main.ts turns it into exit 2), runs nothing', async () => {
    for (const argv of [
      ['status', '--endpoint', 'x'],
      ['backup', 'create', '--bogus'],
      ['greptimedb', 'repoint'],
    ]) {
      const exit = { code: -1 };
      const built = buildProgram(exit);
      const quiet = (c: Command): void => {
        c.configureOutput({ writeErr: () => undefined, outputError: () => undefined });
        c.commands.forEach(quiet);
      };
      quiet(built);
      await assert.rejects(
        built.parseAsync(['node', 'etcd-steward', ...argv]),
        CommanderError,
        argv.join(' '),
      );
      assert.equal(exit.code, -1, `${argv.join(' ')}: an action ran`);
    }
  });
});

/** The text addHelpText('after') adds, as --help prints it. */
function helpAfter(command: Command): string {
  let text = '';
  command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  command.exitOverride();
  try {
    command.outputHelp();
  } catch {
    // exitOverride
  }
  return text;
}
