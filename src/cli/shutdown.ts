/**
 * Stop requests for a command that runs in the foreground (`up`, `up --serve`, `serve`): Ctrl-C
 * (SIGINT), SIGTERM, SIGHUP (the terminal was closed) and a closed stdout pipe (`… | head -1`)
 * all mean "stop cleanly". Installed before the first member starts, so there is no moment in
 * which a signal would end the process with members left running.
 */

/**
 * Why the command was asked to stop: a signal's name, `output-closed` when stdout or stderr can
 * no longer be written (a closed pipe or terminal), `crash` for an uncaught error.
 */
export type StopReason = NodeJS.Signals | 'output-closed' | 'crash';

export interface Shutdown {
  /** Aborted at the first stop request; its reason is an Error naming the request. */
  readonly signal: AbortSignal;
  /** Resolves at the first stop request. */
  readonly requested: Promise<StopReason>;
  /** The first request, once there was one. */
  readonly reason: StopReason | undefined;
  /** The uncaught error behind a `crash`, to report once the members are stopped. */
  readonly error: unknown;
  /** Called at every signal after the first (e.g. a second Ctrl-C: stop waiting, kill now). */
  onRepeat(handler: (reason: StopReason) => void): void;
  /** Removes the handlers: signals act as Node's defaults again. */
  dispose(): void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const DESCRIBE: Partial<Record<StopReason, string>> = {
  'output-closed': 'the output was closed',
  crash: 'an unexpected error',
};

/** Starts listening for stop requests; call `dispose` when the command no longer runs anything. */
export function watchShutdown(): Shutdown {
  const controller = new AbortController();
  const repeatHandlers: ((reason: StopReason) => void)[] = [];
  let reason: StopReason | undefined;
  let crash: unknown;
  let resolveRequested: (reason: StopReason) => void = () => {};
  const requested = new Promise<StopReason>((resolve) => (resolveRequested = resolve));

  const request = (why: StopReason) => {
    if (reason !== undefined) {
      // A closed output fails every later write too: only a repeated signal means "hurry".
      if (why !== 'output-closed' && why !== 'crash') for (const handler of repeatHandlers) handler(why);
      return;
    }
    reason = why;
    controller.abort(new Error(DESCRIBE[why] ?? `interrupted (${why})`));
    resolveRequested(why);
  };
  const onSignal = (signal: NodeJS.Signals) => request(signal);
  // A reader that went away (`| head`) or a closed terminal makes the next write fail (EPIPE,
  // EIO); without a listener that error would end the process at once, members still running.
  const onOutputError = () => request('output-closed');
  // Anything else uncaught: stop what runs first, then report (the command exits non-zero).
  const onUncaught = (error: unknown) => {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'EPIPE' || code === 'EIO') return request('output-closed');
    crash ??= error;
    request('crash');
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  process.stdout.on('error', onOutputError);
  process.stderr.on('error', onOutputError);
  process.on('uncaughtException', onUncaught);

  return {
    signal: controller.signal,
    requested,
    get reason() {
      return reason;
    },
    get error() {
      return crash;
    },
    onRepeat: (handler) => void repeatHandlers.push(handler),
    dispose: () => {
      for (const signal of SIGNALS) process.off(signal, onSignal);
      process.stdout.off('error', onOutputError);
      process.stderr.off('error', onOutputError);
      process.off('uncaughtException', onUncaught);
    },
  };
}
