import fs from 'node:fs';
import type { Command } from 'commander';
import { CLUSTER_USER, basicHeader } from '../auth/tokens.js';
import { fetchStatus } from './status.js';

export function registerSwitchover(program: Command): void {
  program
    .command('switchover')
    .description('hand leadership over to an in-sync passive (planned maintenance)')
    .option('--url <URL>', 'any node of the cluster [STARGATE_URL]', process.env.STARGATE_URL ?? 'http://127.0.0.1:8080')
    .option('--user <NAME>', 'token name [STARGATE_USER]', process.env.STARGATE_USER)
    .option('--token <TOKEN>', 'token [STARGATE_TOKEN]', process.env.STARGATE_TOKEN)
    .option('--cluster-token-file <FILE>', 'authenticate with the cluster token instead [STARGATE_CLUSTER_TOKEN_FILE]', process.env.STARGATE_CLUSTER_TOKEN_FILE)
    .option('--timeout-ms <N>', 'how long to wait for the new leader', '10000')
    .action(async (o: { url: string; user?: string; token?: string; clusterTokenFile?: string; timeoutMs: string }) => {
      const auth = o.clusterTokenFile
        ? basicHeader(CLUSTER_USER, fs.readFileSync(o.clusterTokenFile, 'utf8').trim())
        : o.user && o.token
          ? basicHeader(o.user, o.token)
          : null;
      if (!auth) throw new Error('switchover needs --user and --token (or --cluster-token-file)');
      const first = await fetchStatus(o.url);
      const leaderUrl = first.is_leader ? o.url : first.leader_url;
      if (!leaderUrl) throw new Error(`no leader known to ${o.url}`);
      const old = await fetchStatus(leaderUrl);
      const r = await fetch(`${leaderUrl}/api/v1/ha/switchover`, { method: 'POST', headers: { authorization: auth } });
      const body = (await r.json().catch(() => ({}))) as { message?: string };
      if (!r.ok) {
        process.stderr.write(`stargate: switchover refused by ${old.node_id}: ${body.message ?? r.status}\n`);
        process.exit(1);
      }
      process.stdout.write(`${old.node_id}: ${body.message}\n`);
      const deadline = Date.now() + Number(o.timeoutMs);
      while (Date.now() < deadline) {
        const s = await fetchStatus(leaderUrl).catch(() => null);
        if (s?.leader_url && s.leader_id && s.leader_id !== old.node_id && s.epoch > old.epoch) {
          process.stdout.write(`new leader ${s.leader_id} at ${s.leader_url} (epoch ${s.epoch})\n`);
          return;
        }
        await new Promise((res) => setTimeout(res, 50));
      }
      process.stderr.write('stargate: no new leader within the timeout\n');
      process.exit(1);
    });
}

export function registerPromote(program: Command): void {
  program
    .command('promote')
    .description('make a passive take the lease even if it may lack acknowledged pushes (DATA LOSS possible; see runbook)')
    .requiredOption('--url <URL>', 'the passive to promote')
    .option('--force', 'required: skip the promotion guard once')
    .option('--user <NAME>', 'token name [STARGATE_USER]', process.env.STARGATE_USER)
    .option('--token <TOKEN>', 'token [STARGATE_TOKEN]', process.env.STARGATE_TOKEN)
    .action(async (o: { url: string; force?: boolean; user?: string; token?: string }) => {
      if (!o.force) throw new Error('promote skips the promotion guard and may lose acknowledged pushes; repeat with --force if that is intended');
      if (!o.user || !o.token) throw new Error('promote needs --user and --token');
      const r = await fetch(`${o.url.replace(/\/$/, '')}/api/v1/ha/promote`, { method: 'POST', headers: { authorization: basicHeader(o.user, o.token) } });
      const body = (await r.json().catch(() => ({}))) as { message?: string };
      if (!r.ok) {
        process.stderr.write(`stargate: promote refused: ${body.message ?? r.status}\n`);
        process.exit(1);
      }
      process.stdout.write(`${body.message}\n`);
    });
}
