import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../src/errors.js";
import { readSafetensorsHeader, TensorReader } from "../src/io/safetensors.js";

export interface GoldenPrompt {
  ids: number[];
  greedy: number[];
  argmax_last: number;
}

export interface Golden {
  prompts: GoldenPrompt[];
  n_new: number;
  val_loss_f32_first_40_windows?: number;
}

export function readGolden(dir: string): { golden: Golden; tensors: Map<string, Float32Array> } {
  const golden = JSON.parse(fs.readFileSync(path.join(dir, "golden.json"), "utf8")) as Golden;
  const tensors = new Map<string, Float32Array>();
  const reader = new TensorReader();
  try {
    for (const info of readSafetensorsHeader(path.join(dir, "golden.safetensors"))) {
      const out = new Float32Array(info.shape.reduce((a, b) => a * b, 1));
      reader.readF32(info, out);
      tensors.set(info.name, out);
    }
  } finally {
    reader.close();
  }
  return { golden, tensors };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/**
 * Starts `nanogpt-infer serve ARGS` as a child process and resolves with its URL once it logs
 * "serving … on http://127.0.0.1:PORT"; `log()` is everything it wrote to stderr so far.
 */
export async function startServeChild(main: string, args: readonly string[]): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const child = spawn(process.execPath, [main, "serve", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "serving" line:\n${log}`)), 20000);
    child.stderr?.on("data", () => {
      const m = /serving \S+ on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", () => reject(new Error(`exited:\n${log}`)));
  });
  return { child, url, log: () => log };
}

/** mulberry32, seeded, so a failing random case reproduces. */
export { makeUniform as mulberry32 } from "../scripts/make-random-gpt2.js";

/** For assert.rejects / assert.throws: a UserError with a one-line message matching `pattern`. */
export function userErrorMatching(pattern: RegExp): (e: unknown) => true {
  return (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes("\n"), `error messages are one line: ${e.message}`);
    return true;
  };
}

export async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, userErrorMatching(pattern));
}

/** A CLI run that failed as a user error: exit status 1 and exactly one line on stderr matching `pattern`. */
export function assertUserError(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.split("\n").filter((l) => l !== "").length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

export async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
