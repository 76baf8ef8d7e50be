/**
 * The dashboard: polls the agent's JSON API and renders members, charts, backups, the defrag
 * plan, jobs and a banner of problems. Actions (create/verify/drill a backup, run a defrag) are
 * submitted as jobs; the page follows them in the job list and reports their result.
 */
import {
  api,
  ApiError,
  getToken,
  setToken,
  type Backup,
  type BackupsReply,
  type DefragPlan,
  type HistoryMember,
  type HistoryReply,
  type Job,
  type MemberRow,
  type StatusReply,
} from './api.js';
import { lineChart, type Series } from './chart.js';
import { byId, fill, h } from './dom.js';
import { formatAgo, formatBytes, formatDuration, formatNumber, formatTime } from './format.js';

const FAST_MS = 2_000; // while a job is queued or running
const NORMAL_MS = 5_000;
const SLOW_EVERY = 3; // history, backups and the defrag plan: every third tick
const COLORS = ['#2f7ed8', '#e8743b', '#19a979', '#945ecf', '#d64f7c', '#13a4b4', '#bf9c00'];

interface State {
  status?: StatusReply;
  history?: HistoryReply;
  backups?: BackupsReply;
  plan?: DefragPlan;
  jobs: Job[];
  /** Jobs this page started, to report their outcome: job id → what it was for. */
  mine: Map<string, { label: string; backup?: string; kind: string }>;
  /** Outcome of the last verify/drill per backup name, shown in its row. */
  outcomes: Map<string, { kind: string; ok: boolean; text: string }>;
  errors: Map<string, string>;
  tick: number;
  timer?: number;
}

const state: State = { jobs: [], mine: new Map(), outcomes: new Map(), errors: new Map(), tick: 0 };

// ---------- polling ----------

async function load<T>(key: string, fetcher: () => Promise<T>, apply: (value: T) => void): Promise<void> {
  try {
    apply(await fetcher());
    state.errors.delete(key);
  } catch (e) {
    state.errors.set(key, e instanceof Error ? e.message : String(e));
    if (e instanceof ApiError && e.status === 401) openTokenDialog('The agent asked for a token.');
  }
}

async function refresh(all: boolean): Promise<void> {
  const before = new Map(state.jobs.map((j) => [j.id, j.state]));
  const work: Promise<void>[] = [
    load('status', api.status, (s) => (state.status = s)),
    load('jobs', api.jobs, (j) => (state.jobs = j.jobs)),
  ];
  if (all) {
    work.push(
      load('history', api.history, (v) => (state.history = v)),
      load('backups', api.backups, (v) => (state.backups = v)),
      load('plan', api.defragPlan, (v) => (state.plan = v)),
    );
  }
  await Promise.all(work);
  const finished = state.jobs.filter(
    (j) => isDone(j) && before.get(j.id) !== undefined && !isDone(before.get(j.id)),
  );
  const mineFinished = state.jobs.filter((j) => isDone(j) && state.mine.has(j.id));
  if (!all && (finished.length > 0 || mineFinished.length > 0)) {
    // A job ended: what it changed shows up in the backups and the plan.
    await Promise.all([
      load('backups', api.backups, (v) => (state.backups = v)),
      load('plan', api.defragPlan, (v) => (state.plan = v)),
    ]);
  }
  for (const job of mineFinished) reportOutcome(job);
  render();
}

function isDone(job: Job | Job['state'] | undefined): boolean {
  const s = typeof job === 'object' ? job.state : job;
  return s === 'succeeded' || s === 'failed' || s === 'aborted';
}

function schedule(): void {
  window.clearTimeout(state.timer);
  const busy = state.jobs.some((j) => !isDone(j)) || state.mine.size > 0;
  state.timer = window.setTimeout(() => void poll(), busy ? FAST_MS : NORMAL_MS);
}

async function poll(): Promise<void> {
  state.tick++;
  await refresh(state.tick % SLOW_EVERY === 0);
  schedule();
}

// ---------- actions ----------

async function submit(label: string, kind: string, start: () => Promise<{ job: Job }>, backup?: string) {
  try {
    const { job } = await start();
    state.mine.set(job.id, { label, kind, backup });
    if (backup) state.outcomes.set(backup, { kind, ok: true, text: `${kind} queued…` });
    notify(`${label}: queued as job ${job.id}`, 'info');
  } catch (e) {
    notify(`${label} failed: ${e instanceof Error ? e.message : String(e)}`, 'error');
    if (e instanceof ApiError && e.status === 401) openTokenDialog('This action needs the agent token.');
  }
  await refresh(false);
  schedule();
}

function reportOutcome(job: Job): void {
  const mine = state.mine.get(job.id);
  if (!mine) return;
  state.mine.delete(job.id);
  const ok = job.state === 'succeeded' && resultOk(job);
  const detail = job.error ?? resultDetail(job);
  const text = ok ? `${mine.kind} ok` : `${mine.kind} failed${detail ? `: ${detail}` : ''}`;
  if (mine.backup) state.outcomes.set(mine.backup, { kind: mine.kind, ok, text });
  notify(`${mine.label}: ${ok ? 'done' : text}`, ok ? 'ok' : 'error');
}

/** False when the job's result says the backup or the defrag was not ok. */
function resultOk(job: Job): boolean {
  switch (job.kind) {
    case 'verify':
    case 'drill':
    case 'defrag':
      return job.result?.ok !== false;
    default:
      return true;
  }
}

/** Why the job's result is not ok, from the result itself. */
function resultDetail(job: Job): string {
  switch (job.kind) {
    case 'verify':
      return job.result?.problems.join('; ') ?? '';
    case 'drill':
      return job.result?.detail ?? '';
    case 'defrag':
      return job.result?.error ?? '';
    default:
      return '';
  }
}

function notify(text: string, kind: 'info' | 'ok' | 'error'): void {
  const item = h('li', { class: `toast ${kind}`, role: 'status' }, text);
  byId('toasts').append(item);
  window.setTimeout(() => item.remove(), kind === 'error' ? 12_000 : 6_000);
}

// ---------- rendering ----------

function render(): void {
  renderHeader();
  renderBanner();
  renderMembers();
  renderCharts();
  renderBackups();
  renderDefrag();
  renderJobs();
}

function clusterName(): string {
  return state.status?.cluster.name ?? '';
}

function renderHeader(): void {
  const name = clusterName();
  fill('cluster-name', name || '…');
  document.title = name ? `${name} · etcd-steward` : 'etcd-steward';
  const checked = state.status?.checkedAt;
  fill('checked-at', checked ? `checked ${formatAgo(checked)}` : '');
  byId('token-button').textContent = getToken() ? 'Token ✓' : 'Token';
}

function renderBanner(): void {
  const problems = [...(state.status?.problems ?? [])];
  const unreachable = state.errors.get('status');
  const banner = byId('banner');
  const items = problems
    .sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'critical' ? -1 : 1))
    .map((p) =>
      h(
        'li',
        { class: `problem ${p.severity}`, 'data-problem': p.id },
        h('strong', {}, p.severity === 'critical' ? 'Critical' : 'Warning'),
        ' ',
        p.message,
      ),
    );
  if (unreachable)
    items.unshift(
      h(
        'li',
        { class: 'problem critical', 'data-problem': 'agent-unreachable' },
        h('strong', {}, 'Agent'),
        ` not answering: ${unreachable}`,
      ),
    );
  banner.replaceChildren(...items);
  banner.hidden = items.length === 0;
  const level =
    items.length === 0
      ? 'ok'
      : problems.some((p) => p.severity === 'critical') || unreachable
        ? 'critical'
        : 'warning';
  const pill = byId('overall');
  pill.className = `pill ${level}`;
  pill.textContent =
    level === 'ok'
      ? state.status
        ? 'All good'
        : 'Loading…'
      : `${items.length} problem${items.length === 1 ? '' : 's'}`;
}

function role(m: MemberRow): string {
  if (m.isLearner) return 'learner';
  if (m.isLeader === true) return 'leader';
  if (m.isLeader === false) return 'follower';
  return 'unknown';
}

function memberName(m: { name: string | null; endpoint: string }): string {
  return m.name || m.endpoint;
}

function renderMembers(): void {
  const members = state.status?.members ?? [];
  if (members.length === 0) {
    fill('members', h('p', { class: 'muted' }, state.status ? 'No members reported.' : 'Loading…'));
    return;
  }
  fill(
    'members',
    members.map((m) => {
      const healthy = m.health.ok;
      const r = role(m);
      const quotaPct = m.quotaUsePercent ?? (m.dbSize !== null && m.quota ? (m.dbSize / m.quota) * 100 : 0);
      const inUsePct = m.dbSizeInUse !== null && m.quota ? (m.dbSizeInUse / m.quota) * 100 : 0;
      const level = quotaPct >= 80 ? 'critical' : quotaPct >= 60 ? 'warning' : 'ok';
      const alarms = m.alarms;
      return h(
        'article',
        { class: `member ${healthy ? '' : 'down'}`, 'data-member': memberName(m) },
        h(
          'header',
          {},
          h('span', {
            class: `dot ${healthy ? 'ok' : 'critical'}`,
            title: healthy ? 'healthy' : 'unhealthy',
          }),
          h('h3', {}, memberName(m)),
          h('span', { class: `role ${r}`, 'data-role': r }, r),
        ),
        h(
          'p',
          { class: 'endpoint muted' },
          [m.name && m.name !== m.endpoint ? m.endpoint : '', m.version ? `etcd ${m.version}` : '']
            .filter(Boolean)
            .join(' · '),
        ),
        h(
          'div',
          {
            class: `quota ${level}`,
            title: `db size ${formatBytes(m.dbSize)} of quota ${formatBytes(m.quota)}`,
          },
          h('div', { class: 'used', style: `width:${Math.min(100, quotaPct).toFixed(1)}%` }),
          h('div', { class: 'inuse', style: `width:${Math.min(100, inUsePct).toFixed(1)}%` }),
        ),
        h(
          'dl',
          {},
          h('dt', {}, 'DB size'),
          h('dd', {}, formatBytes(m.dbSize)),
          h('dt', {}, 'Quota'),
          h('dd', {}, `${formatBytes(m.quota)} · ${quotaPct.toFixed(1)} % used`),
          h('dt', {}, 'In use'),
          h('dd', {}, formatBytes(m.dbSizeInUse)),
          h('dt', {}, 'Fragmentation'),
          h('dd', {}, m.fragmentationPercent === null ? '–' : `${m.fragmentationPercent.toFixed(1)} %`),
          h('dt', {}, 'Raft index'),
          h('dd', {}, formatNumber(m.raftIndex)),
          h('dt', {}, 'Health'),
          h(
            'dd',
            {},
            healthy
              ? `ok${m.health.tookMs !== null ? ` · ${Math.round(m.health.tookMs)} ms` : ''}`
              : (m.health.error ?? m.errors[0] ?? 'unreachable'),
          ),
        ),
        alarms.length > 0
          ? h(
              'p',
              { class: 'alarms' },
              alarms.map((a) => h('span', { class: 'badge critical' }, a)),
            )
          : null,
      );
    }),
  );
}

function renderCharts(): void {
  const samples = state.history?.samples ?? [];
  const names = [...new Set(samples.flatMap((s) => s.members.map((m) => m.name)))].sort();
  const series = (pick: (m: HistoryMember) => number | null): Series[] =>
    names.map((name, i) => ({
      label: name,
      color: COLORS[i % COLORS.length] ?? '#888',
      points: samples.flatMap((s) => {
        const member = s.members.find((m) => m.name === name);
        const v = member ? pick(member) : null;
        return v === null ? [] : [{ t: s.t, v }];
      }),
    }));
  const windowText = state.history?.windowSeconds
    ? `last ${Math.round(state.history.windowSeconds / 3600) || '<1'} h window`
    : '';
  fill('history-window', `${samples.length} samples${windowText ? ` · ${windowText}` : ''}`);
  fill(
    'charts',
    lineChart({ title: 'DB size', series: series((m) => m.dbSize), format: formatBytes, bytes: true }),
    lineChart({
      title: 'DB size in use',
      series: series((m) => m.dbSizeInUse),
      format: formatBytes,
      bytes: true,
    }),
    lineChart({
      title: 'Raft applied lag (entries)',
      series: series((m) => m.appliedLag),
      format: (v) => formatNumber(Math.round(v)),
    }),
  );
}

function verification(b: Backup): HTMLElement {
  const v = b.lastVerification;
  return h(
    'span',
    {
      class: `badge ${v.ok ? 'ok' : 'critical'}`,
      title: `${v.by} · ${v.at}${v.problems.length > 0 ? ` · ${v.problems.join('; ')}` : ''}`,
    },
    v.ok ? `ok · ${formatAgo(v.at)}` : 'failed',
  );
}

function drillBadge(b: Backup): HTMLElement {
  if (!b.drill) return h('span', { class: 'muted' }, 'never');
  return h(
    'span',
    { class: `badge ${b.drill.ok ? 'ok' : 'critical'}`, title: b.drill.detail },
    b.drill.ok ? `ok · ${formatAgo(b.drill.at)}` : 'failed',
  );
}

function renderBackups(): void {
  const data = state.backups;
  fill('storage', data?.storage ? `storage: ${data.storage}` : '');
  const error = state.errors.get('backups');
  const backups = [...(data?.backups ?? [])].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  if (backups.length === 0) {
    fill(
      'backups',
      h(
        'p',
        { class: 'muted' },
        error ? `Could not list backups: ${error}` : data ? 'No backups yet.' : 'Loading…',
      ),
    );
    return;
  }
  const busy = new Set([...state.mine.values()].map((m) => m.backup).filter(Boolean));
  fill(
    'backups',
    h(
      'table',
      { class: 'backups' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Name', 'Created', 'Revision', 'Size', 'Keys', 'Verified', 'Drill', ''].map((c) => h('th', {}, c)),
        ),
      ),
      h(
        'tbody',
        {},
        backups.map((b) => {
          const outcome = state.outcomes.get(b.name);
          return h(
            'tr',
            { 'data-backup': b.name },
            h('td', { class: 'name' }, h('code', {}, b.name)),
            h('td', { title: b.createdAt }, formatTime(b.createdAt)),
            h('td', { class: 'num' }, formatNumber(b.revision)),
            h(
              'td',
              { class: 'num', title: `${formatBytes(b.storedSize)} stored (${b.compression})` },
              formatBytes(b.size),
            ),
            h('td', { class: 'num' }, formatNumber(b.keyCount)),
            h('td', {}, verification(b)),
            h('td', {}, drillBadge(b)),
            h(
              'td',
              { class: 'actions' },
              h(
                'button',
                {
                  type: 'button',
                  disabled: busy.has(b.name),
                  onclick: () => void submit(`Verify ${b.name}`, 'verify', () => api.verify(b.name), b.name),
                },
                'Verify',
              ),
              h(
                'button',
                {
                  type: 'button',
                  disabled: busy.has(b.name),
                  onclick: () => void submit(`Drill ${b.name}`, 'drill', () => api.drill(b.name), b.name),
                },
                'Drill',
              ),
              h('button', { type: 'button', onclick: () => openRestoreDialog(b.name) }, 'Restore…'),
              outcome
                ? h(
                    'span',
                    { class: `outcome ${outcome.ok ? 'ok' : 'critical'}`, 'data-outcome': outcome.kind },
                    outcome.text,
                  )
                : null,
            ),
          );
        }),
      ),
    ),
  );
}

function renderDefrag(): void {
  const plan = state.plan;
  const error = state.errors.get('plan');
  if (!plan) {
    fill('defrag', h('p', { class: 'muted' }, error ? `No plan: ${error}` : 'Loading…'));
    return;
  }
  const todo = plan.plan.filter((m) => m.action === 'defragment');
  const reclaim = todo.reduce((sum, m) => sum + m.wouldReclaim, 0);
  const blockers = plan.preflight.problems;
  const warnings = plan.preflight.warnings;
  fill('defrag-rule', `rule: ${plan.rule}`);
  fill(
    'defrag',
    h(
      'p',
      { class: 'summary' },
      todo.length > 0
        ? `Would defragment ${todo.length} of ${plan.plan.length} members and reclaim ≈ ${formatBytes(reclaim)}.`
        : `No member matches the rule (${plan.plan.length} checked).`,
    ),
    blockers.length > 0
      ? h(
          'ul',
          { class: 'notes critical' },
          blockers.map((p) => h('li', {}, p)),
        )
      : null,
    warnings.length > 0
      ? h(
          'ul',
          { class: 'notes warning' },
          warnings.map((p) => h('li', {}, p)),
        )
      : null,
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['#', 'Member', 'Role', 'DB size', 'In use', 'Quota use', 'Action', 'Reclaims'].map((c) =>
            h('th', {}, c),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        plan.plan.map((m) =>
          h(
            'tr',
            {},
            h('td', { class: 'num' }, m.order),
            h('td', {}, memberName(m)),
            h('td', {}, h('span', { class: `role ${m.role}` }, m.role)),
            h('td', { class: 'num' }, formatBytes(m.dbSize)),
            h('td', { class: 'num' }, formatBytes(m.dbSizeInUse)),
            h('td', { class: 'num' }, `${(m.dbQuotaUsage * 100).toFixed(1)} %`),
            h(
              'td',
              {},
              h('span', { class: `badge ${m.action === 'defragment' ? 'warning' : 'muted'}` }, m.action),
            ),
            h('td', { class: 'num' }, m.wouldReclaim ? formatBytes(m.wouldReclaim) : '–'),
          ),
        ),
      ),
    ),
  );
  const run = byId<HTMLButtonElement>('defrag-run');
  run.disabled = blockers.length > 0;
  run.title = blockers.length > 0 ? 'Pre-flight checks failed (see above)' : '';
}

function jobSummary(job: Job): string {
  if (job.error) return job.error;
  const parts: string[] = [];
  switch (job.kind) {
    case 'backup':
      if (job.result)
        parts.push(
          job.result.backup,
          `rev ${formatNumber(job.result.revision)}`,
          formatBytes(job.result.size),
        );
      break;
    case 'prune':
      if (job.result) parts.push(`${job.result.removed.length} pruned`);
      break;
    case 'verify':
    case 'drill':
      if (job.result) parts.push(job.result.backup, job.result.ok ? 'ok' : 'not ok');
      break;
    case 'defrag':
      if (job.result) parts.push(job.result.outcome, `reclaimed ${formatBytes(job.result.reclaimed)}`);
      break;
    case 'heal':
      if (job.result) parts.push(`${job.result.member}: ${job.result.outcome}`, job.result.condition);
      break;
  }
  const detail = resultDetail(job);
  if (detail) parts.push(detail);
  return parts.join(' · ');
}

function renderJobs(): void {
  const jobs = state.jobs;
  if (jobs.length === 0) {
    fill('jobs', h('p', { class: 'muted' }, state.errors.get('jobs') ?? 'No jobs yet.'));
    return;
  }
  fill(
    'jobs',
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Job', 'Kind', 'Trigger', 'State', 'Started', 'Took', 'Result'].map((c) => h('th', {}, c)),
        ),
      ),
      h(
        'tbody',
        {},
        jobs
          .slice(0, 50)
          .map((j) =>
            h(
              'tr',
              { 'data-job': j.id, 'data-kind': j.kind, 'data-state': j.state },
              h('td', {}, h('code', {}, j.id)),
              h('td', {}, j.kind),
              h('td', {}, j.trigger),
              h('td', {}, h('span', { class: `badge ${stateClass(j.state)}` }, j.state)),
              h('td', {}, formatTime(j.startedAt ?? j.createdAt)),
              h('td', { class: 'num' }, formatDuration(j.durationMs)),
              h('td', { class: 'result' }, jobSummary(j)),
            ),
          ),
      ),
    ),
  );
}

function stateClass(s: Job['state']): string {
  return s === 'succeeded' ? 'ok' : s === 'failed' ? 'critical' : s === 'aborted' ? 'warning' : 'info';
}

// ---------- dialogs ----------

function openRestoreDialog(name: string): void {
  const command = `etcd-steward restore ${name}`;
  fill('restore-command', command);
  fill('restore-copied', '');
  byId<HTMLDialogElement>('restore-dialog').showModal();
}

function openTokenDialog(reason: string): void {
  const dialog = byId<HTMLDialogElement>('token-dialog');
  if (dialog.open) return;
  fill('token-reason', reason);
  byId<HTMLInputElement>('token-input').value = getToken();
  dialog.showModal();
}

function wire(): void {
  byId('create-backup').addEventListener(
    'click',
    () => void submit('Create backup', 'backup', api.createBackup),
  );
  byId('refresh').addEventListener('click', () => void refresh(true).then(schedule));

  const defragDialog = byId<HTMLDialogElement>('defrag-dialog');
  byId('defrag-run').addEventListener('click', () => {
    const todo = state.plan?.plan.filter((m) => m.action === 'defragment') ?? [];
    fill(
      'defrag-confirm-text',
      todo.length > 0
        ? `Defragment ${todo.map((m) => memberName(m)).join(', ')} one at a time (the leader last)? Each member blocks its writes while it defragments.`
        : 'No member matches the rule right now; the run will check again and may do nothing.',
    );
    defragDialog.showModal();
  });
  defragDialog.addEventListener('close', () => {
    if (defragDialog.returnValue !== 'confirm') return;
    const compact = byId<HTMLInputElement>('defrag-compact').checked;
    void submit('Defrag', 'defrag', () => api.defrag(compact));
  });

  byId('restore-copy').addEventListener('click', () => {
    const text = byId('restore-command').textContent ?? '';
    navigator.clipboard
      .writeText(text)
      .then(() => fill('restore-copied', 'Copied.'))
      .catch(() => {
        const range = document.createRange();
        range.selectNodeContents(byId('restore-command'));
        window.getSelection()?.removeAllRanges();
        window.getSelection()?.addRange(range);
        fill('restore-copied', 'Selected: press Ctrl+C to copy.');
      });
  });

  byId('token-button').addEventListener('click', () =>
    openTokenDialog('Needed only when the agent listens off loopback.'),
  );
  const tokenDialog = byId<HTMLDialogElement>('token-dialog');
  tokenDialog.addEventListener('close', () => {
    if (tokenDialog.returnValue === 'save') setToken(byId<HTMLInputElement>('token-input').value.trim());
    if (tokenDialog.returnValue === 'clear') setToken('');
    byId<HTMLInputElement>('token-input').value = '';
    renderHeader();
  });
}

wire();
void refresh(true).then(schedule);
