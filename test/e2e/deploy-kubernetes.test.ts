/**
 * compose/kubernetes/: parsed and checked as Kubernetes would use them. Two replicas share a
 * ReadWriteMany lock volume and keep repositories apart; readiness is /readyz (leader only) and
 * liveness /healthz; the client Service selects the pods without publishing not-ready ones, so its
 * only endpoint is the leader; each pod advertises a name the headless Service resolves even when
 * the pod is not ready; the environment is a configuration Stargate itself accepts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { SERVE_OPTIONS, envName, resolveServeConfig } from '../../src/config.js';
import { ROOT } from '../helpers/cluster.js';

const DIR = path.join(ROOT, 'compose/kubernetes');

type Obj = Record<string, any>;

function load(): { kustomization: Obj; objects: Obj[] } {
  const kustomization = parseAllDocuments(fs.readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8'))[0].toJS();
  const objects: Obj[] = [];
  for (const file of kustomization.resources as string[]) {
    const docs = parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8'));
    for (const d of docs) {
      assert.deepEqual(d.errors, [], `${file} parses`);
      const o = d.toJS();
      if (o) objects.push({ ...o, __file: file });
    }
  }
  return { kustomization, objects };
}

const matches = (selector: Obj, labels: Obj) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Expand $(VAR) references the way the kubelet does, from earlier entries and given values. */
function podEnv(container: Obj, fieldValues: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env) {
    if (e.valueFrom) {
      env[e.name] = fieldValues[e.valueFrom.fieldRef.fieldPath];
      assert.ok(env[e.name], `${e.name}: field ${e.valueFrom.fieldRef.fieldPath}`);
    } else env[e.name] = String(e.value).replace(/\$\((\w+)\)/g, (_, v) => env[v] ?? `$(${v})`);
  }
  return env;
}

describe('compose/kubernetes', () => {
  const { kustomization, objects } = load();
  const one = (kind: string, name?: string) => {
    const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
    assert.equal(found.length, 1, `exactly one ${kind} ${name ?? ''}`);
    return found[0];
  };

  it('every resource of the kustomization exists and every object has apiVersion, kind and name', () => {
    assert.equal(kustomization.kind, 'Kustomization');
    assert.ok(objects.length >= 6);
    for (const o of objects) {
      assert.ok(o.apiVersion && o.kind && o.metadata?.name, `${o.__file}: ${JSON.stringify(o).slice(0, 80)}`);
      if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, undefined, 'namespace comes from the kustomization');
    }
    assert.equal(one('Namespace').metadata.name, kustomization.namespace);
  });

  it('two replicas, a shared ReadWriteMany lock volume, a data volume per pod, probes on /readyz and /healthz', () => {
    const sts = one('StatefulSet');
    assert.equal(sts.apiVersion, 'apps/v1');
    assert.equal(sts.spec.replicas, 2);
    assert.equal(sts.spec.podManagementPolicy, 'Parallel', 'pods must not wait for each other to be ready');
    assert.equal(sts.spec.updateStrategy.type, 'OnDelete', 'a rolling update would wait for a passive to be ready');
    const pod = sts.spec.template;
    assert.ok(matches(sts.spec.selector.matchLabels, pod.metadata.labels));
    const [c] = pod.spec.containers;
    const http = c.ports.find((p: Obj) => p.name === 'http');

    const env = podEnv(c, { 'metadata.name': 'stargate-0', 'metadata.namespace': 'stargate' });
    const known = new Set(SERVE_OPTIONS.map((o) => envName(o.flag)));
    for (const k of Object.keys(env)) if (k.startsWith('STARGATE_')) assert.ok(known.has(k), `${k} is a stargate serve option`);
    const cfg = resolveServeConfig({}, env);
    assert.equal(cfg.listenPort, http.containerPort);
    assert.equal(cfg.nodeId, 'stargate-0');
    assert.equal(cfg.advertiseUrl, `http://stargate-0.${sts.spec.serviceName}.stargate.svc:${http.containerPort}`);
    assert.equal(cfg.replication, 'sync');
    assert.equal(cfg.lock, null);

    const mountOf = (p: string) => c.volumeMounts.find((m: Obj) => p === m.mountPath || p.startsWith(m.mountPath + '/'));
    // Lock: one PVC shared by every pod, ReadWriteMany.
    const lockMount = mountOf(cfg.sharedDir!);
    const lockVol = pod.spec.volumes.find((v: Obj) => v.name === lockMount.name);
    const pvc = one('PersistentVolumeClaim', lockVol.persistentVolumeClaim.claimName);
    assert.deepEqual(pvc.spec.accessModes, ['ReadWriteMany']);
    // Data: from volumeClaimTemplates, one per pod.
    const dataMount = mountOf(cfg.dataDir);
    const tmpl = sts.spec.volumeClaimTemplates.find((t: Obj) => t.metadata.name === dataMount.name);
    assert.ok(tmpl, 'the data directory is a per-pod claim');
    assert.deepEqual(tmpl.spec.accessModes, ['ReadWriteOnce']);
    // Secrets: read-only, the auth file and cluster token are keys of one Secret.
    const sec = mountOf(cfg.authFile);
    assert.equal(sec.readOnly, true);
    assert.equal(mountOf(cfg.clusterTokenFile!).name, sec.name);
    assert.ok(pod.spec.volumes.find((v: Obj) => v.name === sec.name).secret.secretName);

    // Probes.
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.ok([http.name, http.containerPort].includes(c.readinessProbe.httpGet.port));
    assert.ok(c.readinessProbe.periodSeconds <= 2 && c.readinessProbe.failureThreshold === 1, 'a deposed leader leaves the endpoints fast');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.ok(c.livenessProbe.failureThreshold * c.livenessProbe.periodSeconds >= 10, 'liveness is not hair-trigger');
    assert.equal(c.startupProbe?.httpGet.path ?? '/healthz', '/healthz');
    // Shutdown: SIGTERM releases the lease; the grace period outlasts the 10 s push drain.
    assert.ok(pod.spec.terminationGracePeriodSeconds > cfg.shutdownTimeoutMs / 1000);
    // The image's entrypoint (tini) must stay: args, not command.
    assert.equal(c.command, undefined);
    assert.match(c.args.join(' '), /stargate init --data-dir \/data --repo kv && exec stargate serve/);
    // Two replicas on two machines.
    const anti = pod.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0];
    assert.equal(anti.topologyKey, 'kubernetes.io/hostname');
    assert.ok(matches(anti.labelSelector.matchLabels, pod.metadata.labels));
  });

  it('the client Service has only the ready pod (the leader) as endpoint; the peer Service resolves every pod', () => {
    const sts = one('StatefulSet');
    const labels = sts.spec.template.metadata.labels;
    const [c] = sts.spec.template.spec.containers;
    const svc = one('Service', 'stargate');
    assert.ok(matches(svc.spec.selector, labels));
    assert.notEqual(svc.spec.clusterIP, 'None', 'a virtual address that stays put');
    assert.notEqual(svc.spec.publishNotReadyAddresses, true, 'not-ready (passive) pods must not be endpoints');
    const port = svc.spec.ports[0];
    assert.ok(c.ports.some((p: Obj) => p.name === port.targetPort || p.containerPort === port.targetPort));

    const peers = one('Service', sts.spec.serviceName);
    assert.equal(peers.spec.clusterIP, 'None');
    assert.equal(peers.spec.publishNotReadyAddresses, true, 'passives must be reachable by their advertised name');
    assert.ok(matches(peers.spec.selector, labels));

    const pdb = one('PodDisruptionBudget');
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.ok(matches(pdb.spec.selector.matchLabels, labels));
  });
});
