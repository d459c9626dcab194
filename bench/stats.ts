/** Order statistics over a sample, the way the tables report them. */
import { percentile } from '../test/helpers/cluster.js';

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(xs: number[]): Summary | null {
  if (xs.length === 0) return null;
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    n: xs.length,
    p50: r(percentile(xs, 50)),
    p95: r(percentile(xs, 95)),
    p99: r(percentile(xs, 99)),
    max: r(Math.max(...xs)),
    mean: r(xs.reduce((a, b) => a + b, 0) / xs.length),
  };
}

export const median = (xs: number[]): number | null => (xs.length ? percentile(xs, 50) : null);

export const round = (v: number | null | undefined, digits = 1): number | null =>
  v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10 ** digits) / 10 ** digits;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
