/**
 * The agent's JSON API as the dashboard reads it, and one fetch wrapper that sends the token
 * (kept in localStorage, for agents bound off loopback) as a Bearer header. Fields the page does
 * not need are left out; everything optional is treated as possibly missing.
 */

export interface MemberRow {
  endpoint: string;
  id?: string;
  name?: string;
  version?: string;
  dbSize?: number;
  dbSizeInUse?: number;
  fragmentationPercent?: number;
  quota?: number;
  quotaUsePercent?: number;
  isLeader?: boolean;
  isLearner?: boolean;
  raftIndex?: number;
  raftAppliedIndex?: number;
  errors?: string[];
  alarms?: string[];
  health?: { ok: boolean; error?: string; tookMs?: number };
}

export interface Problem {
  id: string;
  severity: 'critical' | 'warning';
  message: string;
}

export interface StatusResponse {
  cluster?: string | { name?: string; id?: string };
  checkedAt?: string | number;
  members: MemberRow[];
  problems: Problem[];
}

export interface HistoryMember {
  name: string;
  dbSize?: number;
  dbSizeInUse?: number;
  raftIndex?: number;
  appliedLag?: number;
  isLeader?: boolean;
  healthy?: boolean;
}

export interface HistoryResponse {
  windowSeconds?: number;
  samples: { t: number; members: HistoryMember[] }[];
}

export interface Backup {
  name: string;
  createdAt: string;
  revision: number;
  size: number;
  storedSize: number;
  keyCount: number;
  compression: string;
  etcdVersion?: string | null;
  member?: { name?: string | null };
  lastVerification?: { at: string; ok: boolean; by: string; problems?: string[] };
  drill?: { at: string; ok: boolean; detail: string } | null;
}

export interface BackupsResponse {
  storage?: string;
  backups: Backup[];
}

export interface PlannedMember {
  order: number;
  endpoint: string;
  name?: string;
  role: string;
  dbSize: number;
  dbSizeInUse: number;
  dbSizeFree: number;
  dbQuota: number;
  dbQuotaUsage: number;
  action: 'defragment' | 'skip';
  wouldReclaim: number;
}

export interface DefragPlan {
  rule?: string;
  outcome?: string;
  preflight?: { ok: boolean; problems?: string[]; warnings?: string[] };
  plan: PlannedMember[];
  error?: string;
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'aborted';

export interface Job {
  id: string;
  kind: string;
  trigger: string;
  state: JobState;
  createdAt?: string | number;
  startedAt?: string | number | null;
  finishedAt?: string | number | null;
  durationMs?: number | null;
  result?: unknown;
  error?: string | null;
}

export interface JobsResponse {
  jobs: Job[];
}

const TOKEN_KEY = 'etcd-steward.token';

export function getToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function setToken(token: string): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** An HTTP error from the agent, with its `{ error }` message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = getToken();
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const text = await response.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: reported below by status
  }
  if (!response.ok) {
    const message =
      data && typeof data === 'object' && 'error' in data && typeof data.error === 'string'
        ? data.error
        : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data as T;
}

export const api = {
  status: () => call<StatusResponse>('GET', '/api/status'),
  history: () => call<HistoryResponse>('GET', '/api/history'),
  backups: () => call<BackupsResponse>('GET', '/api/backups'),
  defragPlan: () => call<DefragPlan>('GET', '/api/defrag/plan'),
  jobs: () => call<JobsResponse>('GET', '/api/jobs'),
  createBackup: () => call<{ job: Job }>('POST', '/api/backups', {}),
  verify: (name: string) => call<{ job: Job }>('POST', `/api/backups/${encodeURIComponent(name)}/verify`, {}),
  drill: (name: string) => call<{ job: Job }>('POST', `/api/backups/${encodeURIComponent(name)}/drill`, {}),
  defrag: (compact: boolean) => call<{ job: Job }>('POST', '/api/defrag', { confirm: true, compact }),
};
