/** The etcd release lines etcd-steward runs and tests against (3.4 and older are out of support). */
export const SUPPORTED_LINES = ['3.5', '3.6', '3.7'] as const;
export type EtcdLine = (typeof SUPPORTED_LINES)[number];
