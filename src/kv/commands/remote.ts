/**
 * `git kv remote setup`: point the remote's pushes at Stargate, as the
 * repository's `.kv/policy.yaml` says:
 *
 *   stargate:
 *     push_url: https://stargate.local/kv.git
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { globals, printJson } from '../context.js';
import { KvError } from '../errors.js';
import { gitIn, openRepo } from '../repo.js';
import { parseYaml, YamlError } from '../yaml.js';

export const POLICY_FILE = path.join('.kv', 'policy.yaml');

export function registerRemote(program: Command): void {
  const remote = program.command('remote').description('remote configuration');
  remote
    .command('setup')
    .description(`set remote.<remote>.pushurl from ${POLICY_FILE} (stargate.push_url)`)
    .action(async (_o: unknown, cmd: Command) => {
      const g = globals(cmd);
      const repo = await openRepo();
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(g.remote)) throw new KvError('KV_USAGE', `remote setup needs a remote name, not ${JSON.stringify(g.remote)}`);
      const top = await gitIn(null, 'finding the work tree', ['rev-parse', '--show-toplevel'], { okCodes: [128] });
      const root = top.code === 0 ? top.stdout.toString('utf8').trim() : process.cwd();
      const file = path.join(root, POLICY_FILE);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw new KvError('KV_IO', `cannot read ${POLICY_FILE} in ${root} (${(e as NodeJS.ErrnoException).code ?? 'error'}); create it with:\n  stargate:\n    push_url: https://stargate.example/REPO.git`);
      }
      let doc;
      try {
        doc = parseYaml(text);
      } catch (e) {
        throw new KvError('KV_IO', `${POLICY_FILE}: ${e instanceof YamlError ? e.message : String(e)}`);
      }
      const sg = typeof doc === 'object' && !Array.isArray(doc) ? doc.stargate : undefined;
      const url = sg && typeof sg === 'object' && !Array.isArray(sg) ? sg.push_url : undefined;
      if (typeof url !== 'string' || url === '') throw new KvError('KV_IO', `${POLICY_FILE} has no stargate.push_url; add:\n  stargate:\n    push_url: https://stargate.example/REPO.git`);
      if (/[\s\u0000-\u001f]/.test(url) || url.startsWith('-')) throw new KvError('KV_IO', `${POLICY_FILE}: stargate.push_url ${JSON.stringify(url)} is not a URL`);
      const has = await gitIn(repo, 'reading the remote', ['config', '--get', `remote.${g.remote}.url`], { okCodes: [1] });
      if (has.code !== 0) await gitIn(repo, `adding remote ${g.remote}`, ['remote', 'add', g.remote, url]);
      await gitIn(repo, 'setting the push URL', ['config', `remote.${g.remote}.pushurl`, url]);
      if (g.json) printJson({ ok: true, remote: g.remote, pushurl: url, added_remote: has.code !== 0 });
      else process.stdout.write(`remote.${g.remote}.pushurl = ${url}\n`);
    });
}
