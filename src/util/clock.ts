/**
 * Only the local monotonic clock decides local deadlines (lease validity,
 * renew deadlines). Injected so unit tests can drive time by hand.
 */
export interface Clock {
  /** Monotonic milliseconds; never goes backwards, keeps counting while the process is stopped. */
  now(): number;
  /** Wall-clock milliseconds, for records other nodes read (never for our own deadlines). */
  wall(): number;
}

export const systemClock: Clock = {
  // performance.now() is CLOCK_MONOTONIC based: it keeps counting through SIGSTOP.
  now: () => performance.now(),
  wall: () => Date.now(),
};

export class FakeClock implements Clock {
  constructor(private t = 1_000_000, private w = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  wall(): number {
    return this.w;
  }
  advance(ms: number): void {
    this.t += ms;
    this.w += ms;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
