import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import type { Backend, Matrix } from "../src/kernels/backend.js";
import { createWasmBackend } from "../src/kernels/index.js";
import { mulberry32 } from "./helpers.js";

/** Uniform in [-1, 1), so weights and activations take both signs. */
export function rng(seed: number): () => number {
  const u = mulberry32(seed);
  return () => 2 * u() - 1;
}

export function random(length: number, rand: () => number, scale = 1): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = rand() * scale;
  return a;
}

/** A copy of `src` in the backend's memory. */
export function onto(b: Backend, src: Float32Array): Float32Array {
  const a = b.allocF32(src.length);
  a.set(src);
  return a;
}

export interface LabelledBackend {
  readonly label: string;
  readonly backend: Backend;
}

/**
 * The wasm backends a kind's tests hold against the reference, made in `before` and closed in
 * `after`: 1, 2 and 3 threads with minParallelNanos 0 (even the tiny test shapes are split, so
 * every thread's range logic runs), 2 threads with the default split, and in the relaxed child
 * the baseline build too, since both builds must give the same bits. For a kind whose relaxed
 * dot products can sum in i32 (`int8Dot`, src/kernels/wasm/dot-probe.ts), the relaxed child
 * forces that way on 1 and 2 threads as well: it must give the i16 way's bits. The child then
 * needs INT8_DOT_CHILD_FLAGS.
 */
export function kindTestBackends(relaxedChild: boolean, int8Dot = false): LabelledBackend[] {
  const simd = relaxedChild ? "relaxed" : "auto";
  const list: LabelledBackend[] = [];
  before(async () => {
    for (const threads of [1, 2, 3]) list.push({ label: `wasm×${threads} ${simd}`, backend: await createWasmBackend({ threads, minParallelNanos: 0, simd, int8Dot: "i16" }) });
    list.push({ label: "wasm×2 default split", backend: await createWasmBackend({ threads: 2, simd }) });
    if (relaxedChild) list.push({ label: "wasm×2 baseline", backend: await createWasmBackend({ threads: 2, minParallelNanos: 0, simd: "baseline" }) });
    if (relaxedChild && int8Dot) {
      for (const threads of [1, 2]) list.push({ label: `wasm×${threads} relaxed, int8 dot i32`, backend: await createWasmBackend({ threads, minParallelNanos: 0, simd, int8Dot: "i32" }) });
    }
  });
  after(() => {
    for (const w of list) w.backend.close();
  });
  return list;
}

/**
 * Every row of x·wᵀ + bias (n rows) computed alone on the first backend equals, bit for bit, the
 * same row computed alone and in batches of 2, 3, 5 and n on every backend: batch and thread invariance.
 * `place` copies the weights into a backend's memory.
 */
export function assertBatchInvariant(backends: readonly LabelledBackend[], place: (b: Backend) => Matrix, x: Float32Array, bias: Float32Array, n: number): void {
  const b0 = backends[0].backend;
  const w0 = place(b0);
  const { rows, cols } = w0;
  const alone = new Float32Array(n * rows);
  for (let i = 0; i < n; i++) {
    const out = b0.allocF32(rows);
    b0.matmul(out, onto(b0, x.subarray(i * cols, (i + 1) * cols)), w0, onto(b0, bias), 1);
    alone.set(out, i * rows);
  }
  for (const { label, backend } of backends) {
    const wb = place(backend);
    for (const batch of [1, 2, 3, 5, n]) {
      for (let i0 = 0; i0 < n; i0 += batch) {
        const m = Math.min(batch, n - i0);
        const out = backend.allocF32(m * rows);
        backend.matmul(out, onto(backend, x.subarray(i0 * cols, (i0 + m) * cols)), wb, onto(backend, bias), m);
        assert.deepEqual(Array.from(out), Array.from(alone.subarray(i0 * rows, (i0 + m) * rows)), `${label} ${rows}×${cols} batch ${batch} from row ${i0}`);
      }
    }
  }
}

/** V8 11 (Node 20) has relaxed SIMD behind a flag; later engines have it on and refuse the flag. */
const V8_11 = process.versions.v8.startsWith("11.");

/**
 * The relaxed child's engine flags where kindTestBackends forces the i32 dot: V8 11 computes
 * i32x4.relaxed_dot_i8x16_i7x16_add_s wrongly before its optimizing tier (which is why the
 * backend's probe keeps the i16 way there), so that child compiles with the optimizing tier only.
 */
export const INT8_DOT_CHILD_FLAGS: readonly string[] = V8_11 ? ["--no-liftoff"] : [];

/**
 * Runs the test file at `fileUrl` again in a child process with relaxed SIMD turned on (and
 * `flags`) and `envVar` set to "1" (the file then builds its backends with simd "relaxed"), and
 * checks that it passes.
 */
export function assertPassesRelaxed(fileUrl: string, envVar: string, timeoutMs: number, flags: readonly string[] = []): void {
  const relaxed = V8_11 ? ["--experimental-wasm-relaxed-simd"] : [];
  const r = spawnSync(process.execPath, [...relaxed, ...flags, "--test", "--test-reporter=tap", fileURLToPath(fileUrl)], {
    // Without the parent runner's context the child reports in TAP on its stdout, which is checked below.
    env: { ...process.env, NODE_TEST_CONTEXT: undefined, [envVar]: "1" },
    encoding: "utf8",
    timeout: timeoutMs,
  });
  assert.equal(r.status, 0, `relaxed child failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  assert.match(r.stdout, /# pass [1-9]/);
  assert.match(r.stdout, /# fail 0/);
}

/**
 * x·wᵀ (+ bias) on every backend is within `bound` (per output, from the int8 rounding of x) of
 * the reference's, with and without the bias. `place` copies the weights into a backend's memory.
 */
export function assertWithinBound(reference: Backend, backends: readonly LabelledBackend[], w: Matrix, place: (b: Backend) => Matrix, x: Float32Array, bias: Float32Array, n: number, bound: Float32Array, what: string): void {
  const { rows, cols } = w;
  for (const withBias of [false, true]) {
    const want = new Float32Array(n * rows);
    reference.matmul(want, x, w, withBias ? bias : null, n);
    for (const { label, backend } of backends) {
      const out = backend.allocF32(n * rows);
      backend.matmul(out, onto(backend, x), place(backend), withBias ? onto(backend, bias) : null, n);
      for (let i = 0; i < want.length; i++) {
        const err = Math.abs(out[i] - want[i]);
        const tol = 1.01 * bound[i] + 1e-5 * (1 + Math.abs(want[i]));
        if (!(err <= tol)) assert.fail(`${label} ${what} ${n}×${cols}·${rows} bias=${withBias}: [${i}] got ${out[i]}, want ${want[i]} (err ${err}, tol ${tol})`);
      }
    }
  }
}

/**
 * x quantized as ggml's Q8_K, one scale per 256 (quantizeQ8K): |x − x̂| ≤ amax(super-block)/254,
 * so each output of x·wᵀ (n rows of x) moves from the exact one by at most Σ |w_c|·amax_c/254.
 * `weight(i)` is the matrix's i-th weight, row-major.
 */
export function q8kBound(x: Float32Array, rows: number, cols: number, n: number, weight: (i: number) => number): Float32Array {
  const bound = new Float32Array(n * rows);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c0 = 0; c0 < cols; c0 += 256) {
        let amax = 0;
        for (let j = 0; j < 256; j++) amax = Math.max(amax, Math.abs(x[i * cols + c0 + j]));
        for (let j = 0; j < 256; j++) s += Math.abs(weight(r * cols + c0 + j)) * (amax / 254);
      }
      bound[i * rows + r] = s;
    }
  }
  return bound;
}
