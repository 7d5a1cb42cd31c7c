/**
 * Waits, up to a limit, for the machine to be idle before a measurement: on a small shared machine
 * another process's burst can halve a multi-threaded run whose threads wait on each other.
 */
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** Busy and total jiffies over all CPUs, or null where there is no /proc/stat. */
function cpuTimes(): { busy: number; total: number } | null {
  let line: string | undefined;
  try {
    line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0];
  } catch {
    return null;
  }
  // cpu user nice system idle iowait irq softirq steal ...: idle and iowait are the idle ones.
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - (f[4] ?? 0), total };
}

/** The share of all cores that was busy over the next `ms` milliseconds. */
async function busyShare(ms: number): Promise<number | null> {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  if (a === null || b === null || b.total === a.total) return null;
  return (b.busy - a.busy) / (b.total - a.total);
}

/** Returns the last busy share seen (null: unknown) once it is below `threshold`, or after `maxMs`. */
export async function waitForQuiet(threshold: number, maxMs: number): Promise<number | null> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const busy = await busyShare(500);
    if (busy === null || busy < threshold || Date.now() >= deadline) return busy;
  }
}
