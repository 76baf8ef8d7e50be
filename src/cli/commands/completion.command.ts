import { Argument, Command } from 'commander';
import { runner, type ExitCode } from '../action.js';
import { SHELLS, completionScript, completions, type Shell } from '../completion.js';

/** `completion bash|zsh|fish`: a shell completion script on stdout. */
export function buildCompletionCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('completion')
    .description('print a shell completion script (bash: source <(etcd-steward completion bash))')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action((shell: Shell) =>
      run(() => {
        process.stdout.write(completionScript(shell));
        return Promise.resolve(0);
      })(),
    );
}

/** `__complete WORDS…` (hidden): the candidates the completion scripts offer, one per line. */
export function buildCompleteCommand(exit: ExitCode, program: () => Command): Command {
  const run = runner(exit);
  return new Command('__complete')
    .description('(for the completion scripts) the words that may follow WORDS, one per line')
    .argument('[words...]', 'the words typed so far, the last one being completed')
    .allowUnknownOption()
    .helpOption(false)
    .action((words: string[]) =>
      run(() => {
        const found = completions(program(), words.length > 0 ? words : ['']);
        if (found.length > 0) process.stdout.write(`${found.join('\n')}\n`);
        return Promise.resolve(0);
      })(),
    );
}
