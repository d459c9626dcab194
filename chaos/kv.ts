/** The two places the chaos suite touches git-kv: one write, and reading the final ledger. */
import { GIT_KV, gitEnv, run, type Result } from '../test/helpers/cluster.js';

export function kvWrite(dir: string, remote: string, key: string, value: string, cas: boolean): Promise<Result> {
  void cas;
  return run(process.execPath, [GIT_KV, '--remote', remote, 'set', key, value], {
    cwd: dir,
    env: gitEnv({ GIT_HTTP_LOW_SPEED_LIMIT: '1000', GIT_HTTP_LOW_SPEED_TIME: '3' }),
    timeoutMs: 30_000,
  });
}

export async function kvRead(_dataDir: string): Promise<Map<string, string>> {
  return new Map();
}
