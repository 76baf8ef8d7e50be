/**
 * The agent's JSON API as the dashboard reads it, and one fetch wrapper that sends the token
 * (kept in localStorage, for agents bound off loopback) as a Bearer header. The reply types are
 * those of the agent's schemas (server/api-schemas.ts), imported as types only: the browser
 * bundle carries no zod.
 */
import type {
  AcceptedReply,
  ApiRoutes,
  BackupsReply,
  DefragBody,
  DefragReportReply,
  HistoryReply,
  JobsReply,
  StatusReply,
} from '../../server/api-schemas.js';

export type { StatusReply, HistoryReply, BackupsReply, JobsReply };

export type {
  MemberRow,
  Problem,
  HistoryMember,
  BackupManifestReply as Backup,
  DefragReportReply as DefragPlan,
  JobReply as Job,
} from '../../server/api-schemas.js';

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

/** `/api/backups/{name}/verify` with the name filled in. */
function withName(path: ApiRoutes['verify' | 'drill']['path'], name: string): string {
  return path.replace('{name}', encodeURIComponent(name));
}

const defragBody = (compact: boolean): DefragBody => ({ confirm: true, compact });

export const api = {
  status: () => call<StatusReply>('GET', '/api/status' satisfies ApiRoutes['status']['path']),
  history: () => call<HistoryReply>('GET', '/api/history' satisfies ApiRoutes['history']['path']),
  backups: () => call<BackupsReply>('GET', '/api/backups' satisfies ApiRoutes['backups']['path']),
  defragPlan: () =>
    call<DefragReportReply>('GET', '/api/defrag/plan' satisfies ApiRoutes['defragPlan']['path']),
  jobs: () => call<JobsReply>('GET', '/api/jobs' satisfies ApiRoutes['jobs']['path']),
  createBackup: () =>
    call<AcceptedReply>('POST', '/api/backups' satisfies ApiRoutes['createBackup']['path'], {}),
  verify: (name: string) => call<AcceptedReply>('POST', withName('/api/backups/{name}/verify', name), {}),
  drill: (name: string) => call<AcceptedReply>('POST', withName('/api/backups/{name}/drill', name), {}),
  defrag: (compact: boolean) =>
    call<AcceptedReply>('POST', '/api/defrag' satisfies ApiRoutes['defrag']['path'], defragBody(compact)),
};
