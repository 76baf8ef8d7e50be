/**
 * Scaling: bring the number of members to the spec's `members:` one member at a time, through
 * the same steps as `member add` (learner first, promoted once caught up) and `member remove`
 * (refuses to lose quorum, hands leadership away first). A grow first finishes an add that a
 * crash left half done; a shrink removes the highest-numbered members. Every step looks at the
 * cluster as it is, so `up` run again after a crash finishes the job.
 */
import { addMember, unfinishedAdd } from './add.js';
import { removeMember } from './remove.js';
import { survey, type MembershipOptions, type MembershipReport } from './steps.js';
import { memberAtPeerUrl } from './survey.js';

export interface ScaleOptions extends MembershipOptions {
  /** The number of members wanted (the spec's `members:`). */
  readonly target: number;
}

/** What a scale did: one report per add or remove, in order. */
export interface ScaleResult {
  readonly from: number;
  readonly to: number;
  readonly changes: readonly MembershipReport[];
}

/**
 * Why an even size is worth a warning, or undefined for an odd one: 2n members need n+1 for
 * quorum, so they survive as many failures as 2n-1 do, with one more member to fail.
 */
export function evenSizeWarning(size: number): string | undefined {
  if (size % 2 === 1) return undefined;
  const quorum = Math.floor(size / 2) + 1;
  const tolerated = size - quorum;
  return `members: ${size} is even: ${size} members need ${quorum} for quorum and survive ${tolerated} failure${tolerated === 1 ? '' : 's'}, no more than ${size - 1} members do; the extra member adds load and one more machine that can fail. Prefer ${size - 1} or ${size + 1}.`;
}

/** The number at the end of a member's name (`etcd-4` → 4), or -1 for a name without one. */
function ordinal(name: string): number {
  const match = /-(\d+)$/.exec(name);
  return match ? Number(match[1]) : -1;
}

/**
 * Which members a shrink removes, in order: the highest-numbered first (the last added; the
 * first members, whose ports and names the cluster was created with, stay), ties by name.
 */
export function shrinkOrder(names: readonly string[], count: number): string[] {
  return [...names]
    .sort((a, b) => ordinal(b) - ordinal(a) || b.localeCompare(a))
    .slice(0, Math.max(0, count));
}

/** The plan for the next change: add (finishing an unfinished one first), remove, or nothing. */
export type ScaleStep =
  | { readonly kind: 'add'; readonly name: string | undefined }
  | { readonly kind: 'remove'; readonly name: string }
  | { readonly kind: 'done' };

/** Decides the next single change toward `target` from the members recorded now. */
export async function nextScaleStep(options: ScaleOptions): Promise<ScaleStep> {
  const hosted = await options.host.members();
  const pending = await unfinishedAdd(options);
  if (hosted.length > options.target) {
    // First an unfinished add (it holds nothing anyone relies on), then a member an unfinished
    // remove already took out of the cluster, then the highest-numbered.
    const current = await survey(options);
    const left = hosted.find((h) => !memberAtPeerUrl(current, h.peerUrl));
    const [highest] = shrinkOrder(
      hosted.map((m) => m.name),
      1,
    );
    const name = pending ?? left?.name ?? highest;
    if (name !== undefined) return { kind: 'remove', name };
  }
  if (pending !== undefined) return { kind: 'add', name: pending };
  if (hosted.length < options.target) return { kind: 'add', name: undefined };
  return { kind: 'done' };
}

/** Adds or removes members one at a time until the cluster has `target` of them. */
export async function scaleMembers(options: ScaleOptions): Promise<ScaleResult> {
  if (!Number.isInteger(options.target) || options.target < 1) {
    throw new RangeError(`scale target must be a positive integer, got ${options.target}`);
  }
  const from = (await options.host.members()).length;
  const changes: MembershipReport[] = [];
  for (;;) {
    options.signal?.throwIfAborted();
    const next = await nextScaleStep(options);
    if (next.kind === 'done') break;
    const size = (await options.host.members()).length;
    options.onProgress?.(
      next.kind === 'add'
        ? `scaling ${size} → ${options.target}: ${next.name ? `finishing the add of ${next.name}` : 'adding a member'}`
        : `scaling ${size} → ${options.target}: removing ${next.name}`,
    );
    changes.push(
      next.kind === 'add'
        ? await addMember({ ...options, name: next.name })
        : await removeMember({ ...options, target: next.name }),
    );
  }
  return { from, to: options.target, changes };
}
