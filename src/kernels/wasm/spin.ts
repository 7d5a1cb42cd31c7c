import { GEN, SLEEPERS } from "./jobs.js";

/**
 * The deadline of a spin-wait after look `i` (start with Infinity), or 0 once `micros` have
 * passed. The clock is read at every 1024th look only, and the deadline set at the first of
 * them: every reading allocates a number, and most waits (the next job of a step, a worker's
 * chunk) end sooner.
 */
export function spinDeadline(i: number, deadline: number, micros: number): number {
  if ((i & 1023) !== 0) return deadline;
  const now = performance.now();
  if (deadline === Infinity) return now + micros / 1000;
  return now > deadline ? 0 : deadline;
}

/**
 * Waits until ctrl[GEN] differs from `seen` and returns it. Spinning first keeps the hand-off
 * in the sub-microsecond range between the ~60 kernel calls of a decode step; parking in
 * Atomics.wait after `spinMicros` stops an idle pool from burning cores (a futex wake-up costs
 * tens of microseconds, which is why it is only the fallback).
 */
export function awaitGeneration(ctrl: Int32Array, seen: number, spinMicros: number): number {
  let g = Atomics.load(ctrl, GEN);
  if (g !== seen) return g;
  for (let i = 1, deadline = Infinity; deadline !== 0; i++) {
    g = Atomics.load(ctrl, GEN);
    if (g !== seen) return g;
    deadline = spinDeadline(i, deadline, spinMicros);
  }
  for (;;) {
    Atomics.add(ctrl, SLEEPERS, 1);
    Atomics.wait(ctrl, GEN, seen);
    Atomics.sub(ctrl, SLEEPERS, 1);
    g = Atomics.load(ctrl, GEN);
    if (g !== seen) return g;
  }
}
