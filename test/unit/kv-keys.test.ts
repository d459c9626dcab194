/** Issue 3: key rules, ledger paths, batch files, policy.yaml, push answers -> exit codes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBatch } from '../../src/kv/batch.js';
import { BadInputError, InvalidKeyError, KvError } from '../../src/kv/errors.js';
import { MAX_KEY_BYTES, decodeKey, encodeKey, keyPaths, validateKey, validateNs } from '../../src/kv/keys.js';
import { classifyPush } from '../../src/kv/push.js';
import { parseYaml } from '../../src/kv/yaml.js';

describe('keys', () => {
  it('accepts ordinary, slashed, spaced and non-ASCII keys up to the byte limit', () => {
    for (const k of ['a', 'user/42', 'with space', 'ключ', '😀', '.', '..', '%41', 'x'.repeat(MAX_KEY_BYTES)]) validateKey(k);
  });

  it('refuses empty, control characters, unpaired surrogates and over-long keys, naming the problem', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['a\nb', /control character U\+000A at position 1/],
      ['tab\t', /U\+0009/],
      ['nul\0', /U\+0000/],
      ['del\x7f', /U\+007F/],
      ['c1\u0085', /U\+0085/],
      ['bad\ud800', /surrogate/],
      ['x'.repeat(MAX_KEY_BYTES + 1), /513 bytes long, the limit is 512/],
      ['é'.repeat(257), /514 bytes/],
    ];
    for (const [k, re] of cases) {
      assert.throws(() => validateKey(k), (e: unknown) => e instanceof InvalidKeyError && e.code === 'KV_INVALID_KEY' && e.exitCode === 4 && re.test(e.message));
    }
  });

  it('namespaces are ref-safe names', () => {
    validateNs('main');
    validateNs('team_a-1');
    for (const ns of ['', 'a/b', '..', '.x', 'a.lock', 'x'.repeat(65), 'a b']) assert.throws(() => validateNs(ns), InvalidKeyError);
  });

  it('the URL-safe form round-trips, keeps prefixes, and never holds "/" or "."', () => {
    for (const k of ['a', 'user/42', 'a.b', 'ключ/значение', '😀 x', '%2F', '-_']) {
      const e = encodeKey(k);
      assert.match(e, /^[A-Za-z0-9_%-]+$/);
      assert.equal(decodeKey(e), k);
    }
    assert.ok(encodeKey('user/42').startsWith(encodeKey('user/')));
    assert.equal(encodeKey('a/b.c'), 'a%2Fb%2Ec');
    assert.equal(decodeKey('a%2fb'), null, 'lower-case escapes are not a form we write');
    assert.equal(decodeKey('a.b'), null);
  });

  it('lays keys out as DESIGN.md says: data/<hh>/<hh>, meta/<hh>/<hh>/….meta, index/<pp>/<pp>/….ref', () => {
    // sha256("hello") = 2cf24dba…
    assert.deepEqual(keyPaths('hello'), { key: 'hello', encoded: 'hello', data: 'data/2c/f2/hello', meta: 'meta/2c/f2/hello.meta', index: 'index/he/ll/hello.ref' });
    assert.equal(keyPaths('a').index, 'index/a_/__/a.ref');
    assert.equal(keyPaths('a/b').index, 'index/a%/2F/a%2Fb.ref');
  });
});

describe('mset batch files', () => {
  it('parses sets and deletes, skipping blank lines', () => {
    const ops = parseBatch('{"op":"set","key":"a","value_b64":"aGk=","ctype":"text/plain"}\n\n{"op":"del","key":"b"}\n{"op":"set","key":"c","value_b64":""}\n');
    assert.deepEqual(ops, [
      { op: 'set', key: 'a', value: Buffer.from('hi'), ctype: 'text/plain' },
      { op: 'del', key: 'b' },
      { op: 'set', key: 'c', value: Buffer.alloc(0), ctype: 'application/octet-stream' },
    ]);
    assert.deepEqual(parseBatch(''), []);
  });

  it('a malformed line is exit 5 naming the line; an invalid key is exit 4 naming the line', () => {
    const good = '{"op":"del","key":"x"}\n';
    const cases: Array<[string, RegExp]> = [
      ['{not json', /b\.jsonl:2: not valid JSON/],
      ['[1]', /:2: expected a JSON object/],
      ['{"op":"put","key":"a"}', /:2: "op" must be "set" or "del"/],
      ['{"op":"set","key":"a"}', /:2: "value_b64" must be a base64 string/],
      ['{"op":"set","key":"a","value_b64":"!!"}', /:2: "value_b64"/],
      ['{"op":"set","key":"a","value_b64":"aGk","ctype":"x"}', /:2: "value_b64"/],
      ['{"op":"del","key":"a","value_b64":"aGk="}', /:2: unknown field "value_b64"/],
      ['{"op":"del","key":7}', /:2: "key" must be a string/],
    ];
    for (const [line, re] of cases) {
      assert.throws(() => parseBatch(good + line + '\n' + good, 'b.jsonl'), (e: unknown) => e instanceof BadInputError && e.exitCode === 5 && re.test(e.message) && e.data.line === 2);
    }
    assert.throws(() => parseBatch(good + '{"op":"del","key":""}', 'b.jsonl'), (e: unknown) => e instanceof InvalidKeyError && e.exitCode === 4 && /b\.jsonl:2: invalid key/.test(e.message));
  });
});

describe('.kv/policy.yaml subset', () => {
  it('reads nested mappings, quoted scalars, lists and comments', () => {
    const doc = parseYaml(`# policy\n---\nstargate:\n  push_url: "https://sg.example/kv.git"  # the gateway\n  note: 'it''s # fine'\nnamespaces:\n  - main\n  - team\nempty:\n`);
    assert.deepEqual(doc, { stargate: { push_url: 'https://sg.example/kv.git', note: "it's # fine" }, namespaces: ['main', 'team'], empty: '' });
    assert.deepEqual(parseYaml('stargate:\n    push_url: http://h:1/x.git\n'), { stargate: { push_url: 'http://h:1/x.git' } });
  });
  it('reports what it does not support with a line number', () => {
    assert.throws(() => parseYaml('a:\n  b: {x: 1}\n'), /line 2: unsupported YAML syntax/);
    assert.throws(() => parseYaml('a:\n  b: 1\n   c: 2\n'), /line 3: unexpected indentation/);
    assert.throws(() => parseYaml('just text\n'), /line 1: expected "key: value"/);
    assert.throws(() => parseYaml('a:\n\tb: 1\n'), /line 2: tabs/);
  });
});

describe('push answers -> outcomes', () => {
  const refused = (o: ReturnType<typeof classifyPush>) => {
    assert.equal(o.kind, 'refused');
    return (o as { error: KvError }).error;
  };
  const declined = '!\tabc:refs/kv/main\t[remote rejected] (pre-receive hook declined)\nDone\n';

  it('success', () => {
    assert.deepEqual(classifyPush(0, ' \tabc:refs/kv/main\t1..2\n*\tdef:refs/kv-index/main\t[new reference]\nDone\n', ''), { kind: 'ok' });
  });
  it('not leader (9) carries the leader URL when the server names one', () => {
    const e = refused(classifyPush(1, declined, 'remote: not leader; leader is http://10.0.0.2:8080        \nerror: failed to push some refs\n'));
    assert.equal(e.exitCode, 9);
    assert.equal(e.data.leader_url, 'http://10.0.0.2:8080');
    assert.equal(e.message, 'not leader; leader is http://10.0.0.2:8080');
    const u = refused(classifyPush(1, declined, 'remote: not leader; leader is unknown\n'));
    assert.equal(u.exitCode, 9);
    assert.equal(u.data.leader_url, null);
  });
  it('attestation (8), policy (3), sync refused (11), mirror timeout (10)', () => {
    assert.equal(refused(classifyPush(1, declined, 'remote: kv attestation mismatch: refs/kv/main 1234: trailer KV-NS is missing\n')).exitCode, 8);
    assert.equal(refused(classifyPush(1, declined, 'remote: kv policy: refs/kv/main: deleting a ledger ref is refused\n')).exitCode, 3);
    assert.equal(refused(classifyPush(1, declined, 'remote: some other hook said no\n')).exitCode, 3);
    assert.equal(refused(classifyPush(1, declined, 'remote: sync refused: no in-sync passive is connected\n')).exitCode, 11);
    assert.equal(refused(classifyPush(1, '', 'error: RPC failed; HTTP 503\nsync refused: no passive confirmed this push within 2000 ms\n')).exitCode, 11);
    assert.equal(refused(classifyPush(1, declined, 'remote: mirror timeout: passive did not confirm\n')).exitCode, 10);
  });
  it('a lost fast-forward race (client- or server-side) is a race, anything else is exit 5', () => {
    assert.equal(classifyPush(1, '!\tabc:refs/kv/main\t[rejected] (fetch first)\nDone\n', '').kind, 'race');
    assert.equal(
      classifyPush(1, '!\tabc:refs/kv/main\t[remote rejected] (atomic transaction failed)\nDone\n', "remote: error: cannot lock ref 'refs/kv/main': is at 1 but expected 2\n").kind,
      'race',
    );
    const io = refused(classifyPush(128, '', "fatal: unable to access 'http://x/': Could not resolve host: x\n"));
    assert.equal(io.exitCode, 5);
    assert.match(io.message, /Could not resolve host/);
  });
});
