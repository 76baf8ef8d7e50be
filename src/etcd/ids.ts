/** etcd's 64-bit ids: decimal strings on the wire, hex as etcdctl prints member ids. */

/** Hex form of a uint64 that arrived as a decimal string, as etcdctl prints member ids. */
export function hexId(decimal: string | undefined): string {
  return BigInt(decimal ?? '0').toString(16);
}

/** Decimal form of a hex member id (as `hexId` gives them), the way uint64 fields are sent. */
export function decimalId(hex: string): string {
  return BigInt(`0x${hex}`).toString(10);
}
