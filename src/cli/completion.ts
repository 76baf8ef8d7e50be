/**
 * Shell completion: what may follow the words typed so far (subcommands, then flags of the
 * command they name, global flags included), and the small bash/zsh/fish scripts that ask
 * `etcd-steward __complete WORDS…` for it, as cobra's completions do.
 */
import type { Command } from 'commander';

/** The shells `completion` writes a script for. */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/**
 * Candidates for the last of `words` (the word being typed, possibly empty), given the words
 * before it (after the program's name). Flags are offered when the word starts with `-`.
 */
export function completions(program: Command, words: readonly string[]): string[] {
  const typed = words.at(-1) ?? '';
  let command = program;
  const flags = new Set<string>();
  const addFlags = (c: Command) => {
    for (const option of c.options) {
      if (option.hidden) continue;
      if (option.long) flags.add(option.long);
      if (option.short) flags.add(option.short);
    }
  };
  addFlags(program);
  for (const word of words.slice(0, -1)) {
    if (word.startsWith('-')) continue;
    const next = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!next) continue; // an argument or a flag's value
    command = next;
    addFlags(command);
  }
  const candidates = typed.startsWith('-')
    ? [...flags]
    : command.commands.filter((c) => !hiddenCommand(c)).map((c) => c.name());
  return candidates.filter((c) => c.startsWith(typed)).sort();
}

function hiddenCommand(command: Command): boolean {
  return command.name().startsWith('__') || command.name() === 'help';
}

/** The completion script for `shell`, to be sourced (bash, zsh) or saved (fish). */
export function completionScript(shell: Shell, name = 'etcd-steward'): string {
  const fn = `_${name.replace(/[^a-zA-Z0-9]/g, '_')}`;
  switch (shell) {
    case 'bash':
      return [
        `# ${name} completion for bash: source <(${name} completion bash)`,
        `${fn}() {`,
        `  local IFS=$'\\n'`,
        `  COMPREPLY=($(${name} __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))`,
        `}`,
        `complete -o default -F ${fn} ${name}`,
        '',
      ].join('\n');
    case 'zsh':
      return [
        `#compdef ${name}`,
        `# ${name} completion for zsh: source <(${name} completion zsh)`,
        `${fn}() {`,
        `  local -a candidates`,
        `  candidates=("\${(@f)$(${name} __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")`,
        `  compadd -a candidates`,
        `}`,
        `compdef ${fn} ${name}`,
        '',
      ].join('\n');
    case 'fish':
      return [
        `# ${name} completion for fish: ${name} completion fish > ~/.config/fish/completions/${name}.fish`,
        `complete -c ${name} -f -a '(${name} __complete (commandline -opc)[2..-1] (commandline -ct))'`,
        '',
      ].join('\n');
  }
}
