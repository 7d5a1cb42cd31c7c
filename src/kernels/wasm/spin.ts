import { GEN, SLEEPERS } from "./jobs.js";

/**
 * Waits until ctrl[GEN] differs from `seen` and returns it. Spinning first keeps the hand-off
 * in the sub-microsecond range between the ~60 kernel calls of a decode step; parking in
 * Atomics.wait after `spinMicros` stops an idle pool from burning cores (a futex wake-up costs
 * tens of microseconds, which is why it is only the fallback).
 */
export function awaitGeneration(ctrl: Int32Array, seen: number, spinMicros: number): number {
  let g = Atomics.load(ctrl, GEN);
  if (g !== seen) return g;
  // The clock is read only once the wait is long (the next job of a step comes within the first
  // 1024 looks), since every reading allocates a number.
  let deadline = Infinity;
  for (let i = 1; ; i++) {
    g = Atomics.load(ctrl, GEN);
    if (g !== seen) return g;
    if ((i & 1023) === 0) {
      const now = performance.now();
      if (deadline === Infinity) deadline = now + spinMicros / 1000;
      else if (now > deadline) break;
    }
  }
  for (;;) {
    Atomics.add(ctrl, SLEEPERS, 1);
    Atomics.wait(ctrl, GEN, seen);
    Atomics.sub(ctrl, SLEEPERS, 1);
    g = Atomics.load(ctrl, GEN);
    if (g !== seen) return g;
  }
}
