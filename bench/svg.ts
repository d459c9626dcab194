/**
 * A small SVG writer for one failover: a lane per node showing its role over
 * time (leader, passive, down), its acknowledged writes (ticks) and refused or
 * failed attempts (crosses), with the signal and the first acknowledgement
 * on the new leader marked.
 */
import type { FailoverRun, Role, Trial } from './failover.js';

type Attrs = Record<string, string | number>;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const el = (tag: string, a: Attrs, body = '') => {
  const attrs = Object.entries(a).map(([k, v]) => ` ${k}="${esc(String(v))}"`).join('');
  return body ? `<${tag}${attrs}>${body}</${tag}>` : `<${tag}${attrs}/>`;
};
const text = (x: number, y: number, s: string, a: Attrs = {}) => el('text', { x, y, ...a }, esc(s));

const COLORS: Record<Role, string> = { leader: '#2f855a', passive: '#90cdf4', down: '#cbd5e0' };

export function failoverSvg(run: FailoverRun, trial: Trial, nodes: string[], subtitle: string): string {
  const before = 1500;
  // Until the old leader is back as a passive, but not into the next trial.
  const next = run.trials.find((t) => t.signal_at > trial.signal_at)?.signal_at ?? Infinity;
  const end = Math.min(Math.max((trial.first_ack_at ?? trial.signal_at) + 1500, (trial.restarted_at ?? 0) + 1500), next - 100);
  const t0 = trial.signal_at - before;
  const t1 = Math.floor((end - trial.signal_at) / 500) * 500 + trial.signal_at;
  const W = 900;
  const left = 90;
  const right = 20;
  const laneH = 34;
  const top = 76;
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
  const laneY = (i: number) => top + i * (laneH + 26);
  const H = laneY(nodes.length) + 78;
  const parts: string[] = [];

  const signal = trial.kind === 'crash' ? 'SIGKILL' : 'SIGTERM';
  const title = `${trial.kind === 'crash' ? 'Crash failover' : 'Graceful handover'}: ${signal} to ${trial.victim}; first acknowledged write on ${trial.first_ack_node ?? '?'} after ${trial.ms ?? '?'} ms`;
  parts.push(text(left, 22, title, { 'font-size': 15, 'font-weight': 'bold' }));
  parts.push(text(left, 40, subtitle, { 'font-size': 12, fill: '#4a5568' }));

  nodes.forEach((node, i) => {
    const y = laneY(i);
    parts.push(text(left - 10, y + laneH / 2 + 5, node, { 'text-anchor': 'end', 'font-size': 13 }));
    // Role segments from the samples (nothing is drawn before the first one).
    const samples = run.roles.filter((r) => r.node === node);
    let role: Role | null = [...samples].reverse().find((r) => r.t <= t0)?.role ?? null;
    let from = t0;
    const segment = (to: number) => {
      if (role) parts.push(el('rect', { x: x(from), y, width: Math.max(0, x(to) - x(from)), height: laneH, fill: COLORS[role] }));
    };
    for (const s of samples.filter((r) => r.t > t0 && r.t < t1)) {
      segment(s.t);
      role = s.role;
      from = s.t;
    }
    segment(t1);
    // Writes answered in the window, at the moment the client got the answer.
    for (const w of run.writes.filter((e) => e.node === node && e.end >= t0 && e.end <= t1)) {
      const cx = x(w.end);
      if (w.ok) parts.push(el('line', { x1: cx, x2: cx, y1: y - 8, y2: y + laneH + 8, stroke: '#1a202c', 'stroke-width': 2 }));
      else parts.push(el('path', { d: `M${cx - 4},${y + laneH + 5} l8,8 m0,-8 l-8,8`, stroke: '#c53030', 'stroke-width': 1.5 }));
    }
  });

  // Time axis, in ms relative to the signal.
  const axisY = laneY(nodes.length) - 8;
  parts.push(el('line', { x1: left, x2: W - right, y1: axisY, y2: axisY, stroke: '#4a5568' }));
  for (let t = -before; t <= t1 - trial.signal_at; t += 500) {
    parts.push(el('line', { x1: x(trial.signal_at + t), x2: x(trial.signal_at + t), y1: axisY, y2: axisY + 5, stroke: '#4a5568' }));
    parts.push(text(x(trial.signal_at + t), axisY + 18, `${t >= 0 ? '+' : ''}${(t / 1000).toFixed(1)} s`, { 'text-anchor': 'middle', 'font-size': 11, fill: '#4a5568' }));
  }
  // Labels above the lanes; the restart's below the axis, where it cannot collide with them.
  const marker = (t: number, label: string, color: string, dash: string, anchor: string, below = false) => {
    parts.push(el('line', { x1: x(t), x2: x(t), y1: top - 14, y2: below ? axisY + 24 : axisY, stroke: color, 'stroke-width': 1.5, 'stroke-dasharray': dash }));
    parts.push(text(x(t) + (anchor === 'start' ? 4 : -4), below ? axisY + 34 : top - 18, label, { 'font-size': 11, fill: color, 'text-anchor': anchor }));
  };
  marker(trial.signal_at, `${signal} ${trial.victim}`, '#c53030', '', 'end');
  if (trial.first_ack_at !== null) marker(trial.first_ack_at, `first acknowledged write on ${trial.first_ack_node} (+${trial.ms} ms)`, '#2f855a', '4 3', 'start');
  if (trial.restarted_at !== null && trial.restarted_at < t1) marker(trial.restarted_at, `${trial.victim} restarted`, '#4a5568', '2 3', 'start', true);

  // Legend.
  const ly = H - 16;
  let lx = left;
  for (const [role, color] of Object.entries(COLORS)) {
    parts.push(el('rect', { x: lx, y: ly - 10, width: 14, height: 12, fill: color }));
    parts.push(text(lx + 18, ly, role === 'leader' ? 'leader (accepting writes)' : role, { 'font-size': 12 }));
    lx += role === 'leader' ? 190 : 90;
  }
  parts.push(el('line', { x1: lx + 7, x2: lx + 7, y1: ly - 12, y2: ly + 2, stroke: '#1a202c', 'stroke-width': 2 }));
  parts.push(text(lx + 16, ly, 'acknowledged write', { 'font-size': 12 }));
  lx += 150;
  parts.push(el('path', { d: `M${lx + 2},${ly - 9} l8,8 m0,-8 l-8,8`, stroke: '#c53030', 'stroke-width': 1.5 }));
  parts.push(text(lx + 16, ly, 'refused or failed push', { 'font-size': 12 }));

  return `<?xml version="1.0" encoding="UTF-8"?>\n${el(
    'svg',
    { xmlns: 'http://www.w3.org/2000/svg', width: W, height: H, viewBox: `0 0 ${W} ${H}`, 'font-family': 'Helvetica, Arial, sans-serif' },
    el('rect', { width: W, height: H, fill: '#ffffff' }) + parts.join(''),
  )}\n`;
}
