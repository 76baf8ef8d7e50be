/**
 * Errors of the snapshot reader: a file that is not a sound bbolt/etcd snapshot, and a request
 * for a revision the snapshot cannot answer.
 */
import { StewardError } from '../errors.js';

/**
 * The file is damaged or is not an etcd snapshot at all. `where` names the place ("page 1234",
 * "meta", "file", "bucket key") and the message starts with it, then says what is wrong, e.g.
 * `page 1234: branch element 3 points to page 99999, beyond the high-water mark 5000`.
 */
export class SnapshotCorruptError extends StewardError {
  readonly where: string;
  /** The page the problem was found on, when it is about one page. */
  readonly page: number | undefined;

  constructor(where: string, problem: string, options: { page?: number; cause?: unknown } = {}) {
    super(`${where}: ${problem}`, {
      hint: 'the snapshot is damaged or incomplete; take a new one, or use another backup',
      cause: options.cause,
    });
    this.where = where;
    this.page = options.page;
  }
}

/** A view at a revision the snapshot no longer holds (compacted) or never held (future). */
export class SnapshotRevisionError extends StewardError {
  constructor(message: string, hint: string) {
    super(message, { hint, exitCode: 2 });
  }
}
