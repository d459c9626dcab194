/**
 * Ledger rules enforced in pre-receive for refs/kv* (see DESIGN.md "Ledger").
 * Returns null when the push may proceed, or the refusal to print.
 */
import type { HookAnswer, HookCall } from '../git/hook-server.js';

export async function ledgerPolicy(_call: HookCall): Promise<(HookAnswer & { reason: string }) | null> {
  return null;
}
