/**
 * compose/docker-compose.yml, compose/haproxy.cfg and compose/Dockerfile: docker-compose accepts
 * the file (`config` needs no Docker engine); the two nodes get a configuration Stargate itself
 * accepts, share one lock volume and nothing else writable; the front routes on GET /readyz to
 * exactly those two services; the image provides what the compose commands call.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { SERVE_OPTIONS, envName, resolveServeConfig } from '../../src/config.js';
import { ROOT, run } from '../helpers/cluster.js';

const DIR = path.join(ROOT, 'compose');
const FILE = path.join(DIR, 'docker-compose.yml');
const haveCompose = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' }).status === 0;
const haveHaproxy = spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).status === 0;

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}
/** A service's volumes in either of docker-compose's syntaxes. */
function mounts(svc: any): Mount[] {
  return (svc.volumes ?? []).map((v: any) => {
    if (typeof v === 'string') {
      const [source, target, mode] = v.split(':');
      return { source, target, readOnly: mode === 'ro' };
    }
    return { source: v.source, target: v.target, readOnly: !!v.read_only };
  });
}
const mountAt = (svc: any, target: string) => mounts(svc).find((m) => m.target === target || target.startsWith(m.target + '/'));

describe('compose/docker-compose.yml', { skip: haveCompose ? false : 'docker-compose is not installed (Debian package docker-compose)' }, () => {
  it('is valid for docker-compose: two nodes sharing only the lock volume, a setup job and a front', async () => {
    const r = await run('docker-compose', ['-f', FILE, 'config']);
    assert.equal(r.code, 0, r.stderr);
    const cfg = parse(r.stdout);
    assert.deepEqual(Object.keys(cfg.services).sort(), ['front', 'node-a', 'node-b', 'setup']);

    const known = new Set(SERVE_OPTIONS.map((o) => envName(o.flag)));
    const nodes = ['node-a', 'node-b'].map((name) => {
      const svc = cfg.services[name];
      for (const k of Object.keys(svc.environment)) assert.ok(known.has(k), `${name}: ${k} is a stargate serve option`);
      const sc = resolveServeConfig({}, svc.environment);
      assert.equal(sc.lock, null, `${name} uses the file lock`);
      assert.equal(sc.replication, 'sync');
      const lock = mountAt(svc, sc.sharedDir!);
      const data = mountAt(svc, sc.dataDir);
      const auth = mountAt(svc, sc.authFile);
      const token = mountAt(svc, sc.clusterTokenFile!);
      assert.ok(lock && data && auth && token, `${name}: every path is on a volume`);
      assert.equal(lock.readOnly, false);
      assert.equal(auth.readOnly, true, `${name}: secrets are read-only for the node`);
      assert.equal(token.source, auth.source);
      // Healthcheck: the node's own listen port, on a readiness route.
      const port = sc.listenPort;
      assert.equal(svc.healthcheck.test[0], 'CMD');
      assert.ok(svc.healthcheck.test.includes(`http://127.0.0.1:${port}/readyz/read`), `${name} healthcheck: ${svc.healthcheck.test}`);
      assert.deepEqual(svc.depends_on, { setup: { condition: 'service_completed_successfully' } });
      assert.match(svc.command.join(' '), /stargate init --data-dir \/data --repo kv && exec stargate serve/);
      assert.ok(parseInt(String(svc.stop_grace_period), 10) > 10, 'stop grace > the 10 s shutdown timeout');
      assert.equal(new URL(sc.advertiseUrl).hostname, name, `${name} advertises its service name`);
      assert.equal(new URL(sc.advertiseUrl).port, String(port));
      return { name, sc, lock, data, auth };
    });
    const [a, b] = nodes;
    assert.notEqual(a.sc.nodeId, b.sc.nodeId);
    assert.equal(a.lock.source, 'lock');
    assert.equal(b.lock.source, a.lock.source, 'the lock volume is shared');
    assert.notEqual(a.data.source, b.data.source, 'repositories are not shared');
    assert.ok(Object.keys(cfg.volumes).includes('lock'));

    // setup writes the secrets the nodes read.
    const setup = cfg.services.setup;
    assert.equal(mounts(setup)[0].source, a.auth.source);
    assert.match(setup.command.join(' '), /stargate token add admin --auth-file \/secrets\/auth\.json/);
    assert.match(setup.command.join(' '), /> \/secrets\/cluster\.token/);

    // The front: HAProxy with compose/haproxy.cfg, answering as stargate.local.
    const front = cfg.services.front;
    assert.match(front.image, /^haproxy:/);
    const conf = mounts(front).find((m) => m.target === '/usr/local/etc/haproxy/haproxy.cfg');
    assert.equal(conf?.source, path.join(DIR, 'haproxy.cfg'));
    assert.deepEqual(front.networks.default.aliases, ['stargate.local']);
    const haproxy = fs.readFileSync(path.join(DIR, 'haproxy.cfg'), 'utf8');
    assert.match(haproxy, /^\s*option httpchk GET \/readyz HTTP\/1\.1$/m);
    assert.match(haproxy, /^\s*http-check send hdr Host \S+$/m);
    const servers = [...haproxy.matchAll(/^\s*server (\S+) (\S+):(\d+) check/gm)].map((m) => [m[1], m[2], Number(m[3])]);
    assert.deepEqual(servers, nodes.map((n) => [n.name, n.name, n.sc.listenPort]));
    const bind = /^\s*bind :(\d+)$/m.exec(haproxy);
    assert.ok(front.ports.some((p: any) => (typeof p === 'string' ? p.endsWith(`:${bind![1]}`) : p.target === Number(bind![1]))));
  });

  it('the front configuration is valid for HAProxy', { skip: haveHaproxy ? false : 'haproxy is not installed' }, async () => {
    const r = await run('haproxy', ['-c', '-f', path.join(DIR, 'haproxy.cfg')]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  });

  it('the Dockerfile builds what the compose files run: stargate and git-kv on PATH, git, tini, a non-root user', () => {
    const df = fs.readFileSync(path.join(DIR, 'Dockerfile'), 'utf8');
    const froms = [...df.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    assert.ok(froms.length >= 1 && froms.every((f) => /^node:20\b/.test(f)), `base images: ${froms}`);
    assert.match(df, /apt-get install[^\n]*\bgit\b/);
    assert.match(df, /ln -s \/app\/dist\/src\/cli\/main\.js \/usr\/local\/bin\/stargate/);
    assert.match(df, /ln -s \/app\/dist\/src\/kv\/cli\.js \/usr\/local\/bin\/git-kv/);
    assert.match(df, /^USER node$/m);
    assert.match(df, /^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    for (const dir of ['/data', '/shared', '/secrets']) assert.ok(df.includes(dir), `creates ${dir}`);
    // Every path the image copies from the build context exists.
    for (const m of df.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) for (const src of m[1].split(/\s+/)) assert.ok(fs.existsSync(path.join(ROOT, src)), `COPY ${src}`);
    // The image's hooks directory sits where the compiled code looks for it (dist/src/git -> ../../../hooks).
    assert.match(df, /COPY --from=build \/src\/dist\/src \.\/dist\/src/);
    assert.match(df, /COPY hooks \.\/hooks/);
    assert.match(fs.readFileSync(path.join(ROOT, 'src/git/repos.ts'), 'utf8'), /'\.\.\/\.\.\/\.\.\/hooks'/);
  });
});
