// The relaxed build's two ways to sum q8 dot products (i16 pairs, or i32 lanes with
// i32x4.relaxed_dot_i8x16_i7x16_add_s: src/kernels/wasm/dot-probe.ts) must give the same bits, and
// the backend must take the i32 way only where the engine computes it right.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Backend, Matrix } from "../src/kernels/backend.js";
import { createWasmBackend, createReferenceBackend, enableRelaxedSimd, quantizeQ8 } from "../src/kernels/index.js";
import { onto, random, rng } from "./kernel-helpers.js";

const ref = createReferenceBackend();
const childRun = process.env.INT8_DOT_TEST === "child";

function ontoQ8(b: Backend, w: Matrix): Matrix {
  if (w.kind !== "q8") throw new Error("q8 only");
  const q = b.allocI8(w.q.length);
  q.set(w.q);
  return { ...w, q, scales: onto(b, w.scales) };
}

function bits(a: Float32Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length);
}

/** Every backend's q8 matmul against the first's, bit for bit, on odd shapes and batch sizes. */
function assertSameBits(backends: { label: string; backend: Backend }[]): void {
  const rand = rng(11);
  const shapes: [number, number, number][] = [];
  for (const cols of [32, 96, 160, 288]) for (const rows of [1, 5, 31]) for (const n of [1, 2, 3, 4, 5, 7, 8, 13, 16]) shapes.push([n, rows, cols]);
  shapes.push([16, 70, 768], [9, 33, 3072]);
  for (const [n, rows, cols] of shapes) {
    const w = quantizeQ8(ref, random(rows * cols, rand), rows, cols);
    const x = random(n * cols, rand);
    const bias = random(rows, rand);
    let want: Int32Array | null = null;
    for (const { label, backend } of backends) {
      const out = backend.allocF32(n * rows);
      backend.matmul(out, onto(backend, x), ontoQ8(backend, w), onto(backend, bias), n);
      const got = bits(out).slice();
      if (want === null) want = got;
      else assert.deepEqual(got, want, `${label}: ${n}×${cols}·${rows}`);
    }
  }
}

describe("int8 dot products summed in i16 or in i32", () => {
  // Node 20's engine (V8 11) computes the i32 way wrongly until it optimizes the code, so there
  // the forced comparison runs in a child that compiles with the optimizing tier only.
  test("int8Dot i32 gives the bits of i16, on 1, 2 and 3 threads", { skip: !childRun && "runs in the child below" }, async () => {
    enableRelaxedSimd();
    const backends = [];
    for (const int8Dot of ["i16", "i32"] as const) {
      for (const threads of [1, 2, 3]) backends.push({ label: `${int8Dot}×${threads}`, backend: await createWasmBackend({ threads, minParallelNanos: 0, simd: "relaxed", int8Dot }) });
    }
    assert.match(backends[0].backend.name, /^wasm-simd\(relaxed, 1 thread/);
    assert.match(backends[3].backend.name, /^wasm-simd\(relaxed, int8 dot to i32, 1 thread/);
    try {
      assertSameBits(backends);
    } finally {
      for (const b of backends) b.backend.close();
    }
  });

  test("in a child process", { skip: childRun && "already the child" }, () => {
    const flags = process.versions.v8.startsWith("11.") ? ["--experimental-wasm-relaxed-simd", "--no-liftoff"] : [];
    const r = spawnSync(process.execPath, [...flags, "--test", "--test-reporter=tap", fileURLToPath(import.meta.url)], {
      // Without the parent runner's context the child reports in TAP on its stdout.
      env: { ...process.env, NODE_TEST_CONTEXT: undefined, INT8_DOT_TEST: "child" },
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`.slice(-4000));
    assert.match(r.stdout, /# pass 2\b/);
    assert.match(r.stdout, /# fail 0\b/);
  });

  test("auto takes the i32 way only where it gives the i16 way's bits", { skip: childRun && "the parent's test" }, async () => {
    enableRelaxedSimd();
    const auto = await createWasmBackend({ threads: 1, simd: "relaxed" });
    const i16 = await createWasmBackend({ threads: 1, simd: "relaxed", int8Dot: "i16" });
    try {
      // V8 11 (Node 20) gets the i32 way wrong in its first tier: the probe must see it.
      if (process.versions.v8.startsWith("11.")) assert.doesNotMatch(auto.name, /int8 dot to i32/);
      assertSameBits([
        { label: "i16", backend: i16 },
        { label: auto.name, backend: auto },
      ]);
    } finally {
      auto.close();
      i16.close();
    }
  });

  test("the baseline build has one way", async () => {
    const b = await createWasmBackend({ threads: 1, simd: "baseline", int8Dot: "i32" });
    assert.match(b.name, /^wasm-simd\(baseline, 1 thread/);
    b.close();
  });
});
