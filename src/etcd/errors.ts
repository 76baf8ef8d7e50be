/** Turning gRPC failures into messages that name the member, the call and what to do. */
import { StewardError } from '../errors.js';

/** The gRPC status codes this module tells apart (gRPC's own numbering). */
export const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** A failed gRPC call as the member or the transport reported it (grpc-js' ServiceError has the same fields). */
export class GrpcCallError extends Error {
  readonly code: number;
  readonly details: string;

  constructor(code: number, details: string, options?: { cause?: unknown }) {
    super(`${code}: ${details}`, options);
    this.code = code;
    this.details = details;
  }
}

interface ServiceError extends Error {
  code: number;
  details?: string;
}

/** A call to one member failed. `reason` is short enough for a table cell. */
export class MemberRequestError extends StewardError {
  readonly endpoint: string;
  readonly method: string;
  readonly grpcCode: number | undefined;
  readonly reason: string;

  constructor(
    endpoint: string,
    method: string,
    reason: string,
    grpcCode: number | undefined,
    options: { hint?: string; cause?: unknown },
  ) {
    super(`${endpoint}: ${method} failed: ${reason}`, options);
    this.endpoint = endpoint;
    this.method = method;
    this.reason = reason;
    this.grpcCode = grpcCode;
  }
}

/** The member did not answer within the call's deadline (gRPC DEADLINE_EXCEEDED). */
export class MemberTimeoutError extends MemberRequestError {}

/** The member refused the call's credentials: no user, a wrong password, no permission. */
export class MemberAuthError extends MemberRequestError {}

/**
 * etcd refused to promote a learner that has not caught up with the leader yet ("can only
 * promote a learner member which is in sync with leader"): wait and try again.
 */
export class LearnerNotReadyError extends MemberRequestError {}

/** The member id named in a membership call is not (or no longer) in the cluster. */
export class MemberNotFoundError extends MemberRequestError {}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === 'number';
}

/** Wraps a failure of `method` on `endpoint`, with a reason and a hint a user can act on. */
export function toMemberError(
  endpoint: string,
  method: string,
  error: unknown,
  timeoutMs: number,
): MemberRequestError {
  if (error instanceof MemberRequestError) return error;
  if (!isServiceError(error)) {
    const message = error instanceof Error ? error.message : String(error);
    return new MemberRequestError(endpoint, method, message, undefined, { cause: error });
  }
  const details = error.details || error.message;
  const { reason, hint } = explain(error.code, details, timeoutMs);
  const Kind = errorClass(error.code, details);
  return new Kind(endpoint, method, reason, error.code, { hint, cause: error });
}

function errorClass(code: number, details: string): typeof MemberRequestError {
  if (code === GrpcStatus.DEADLINE_EXCEEDED) return MemberTimeoutError;
  if (/can only promote a learner member which is in sync with leader/i.test(details))
    return LearnerNotReadyError;
  if (/member not found/i.test(details)) return MemberNotFoundError;
  if (AUTH_FAILURE.test(details)) return MemberAuthError;
  return MemberRequestError;
}

const AUTH_FAILURE =
  /user name is empty|authentication failed|invalid auth token|permission denied|not capable|revision of auth store is old/i;

function explain(code: number, details: string, timeoutMs: number): { reason: string; hint?: string } {
  const lastError = /Last error: (.*?)(?:\. Resolution note:.*)?(?: \(\d{4}-\d\d-\d\dT[^)]*\))?$/.exec(
    details,
  )?.[1];
  if (code === GrpcStatus.UNAVAILABLE) {
    const cause = lastError ?? details;
    if (/certificate|SSL|TLS|handshake|wrong version number/i.test(cause)) {
      return {
        reason: `TLS handshake failed: ${cause}`,
        hint: "check --cacert/--cert/--key (or the spec's tls section) and the endpoint's scheme",
      };
    }
    return {
      reason: `unreachable: ${cause.replace(/^Error: /, '')}`,
      hint: 'is the member running, and are the endpoint and port right?',
    };
  }
  if (code === GrpcStatus.DEADLINE_EXCEEDED) {
    return {
      reason: `no answer within ${timeoutMs} ms`,
      hint: 'the member may be down, partitioned or overloaded; raise --command-timeout if it is just slow',
    };
  }
  if (/can only promote a learner member which is in sync with leader/i.test(details)) {
    return {
      reason: details.replace(/^etcdserver: /, ''),
      hint: 'the learner has not caught up with the leader yet: make sure it is running, wait and promote again',
    };
  }
  if (AUTH_FAILURE.test(details)) {
    return {
      reason: details.replace(/^etcdserver: /, ''),
      hint: "this cluster has authentication on: pass --user NAME (password from --password, ETCDCTL_PASSWORD or the spec's auth section)",
    };
  }
  return { reason: details.replace(/^etcdserver: /, '') };
}
