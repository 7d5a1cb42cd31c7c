// The kernel calls of GPT-2-124M decode and prefill steps, with random weights: an upper bound
// on tokens/s for the whole engine (it adds only JS glue and sampling). node dist/bench/kernels-gpt2.js
import type { Backend, KVView, Matrix } from "../src/kernels/backend.js";
import { createWasmBackend } from "../src/kernels/index.js";
import { quantizeQ8 } from "../src/kernels/quantize.js";

const N_LAYER = 12, D = 768, N_HEAD = 12, HEAD_DIM = 64, VOCAB = 50257, MAX_POS = 1024;

function fill(a: Float32Array, seed: number): void {
  let s = seed;
  for (let i = 0; i < a.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 0.05;
  }
}

let seed = 1;
function matrix(b: Backend, kind: "f32" | "q8", rows: number, cols: number, scratch: Float32Array): Matrix {
  const src = scratch.subarray(0, rows * cols);
  fill(src, seed++);
  if (kind === "q8") return quantizeQ8(b, src, rows, cols);
  const data = b.allocF32(rows * cols);
  data.set(src);
  return { kind: "f32", rows, cols, data };
}

interface Layer {
  readonly ln1w: Float32Array; readonly ln1b: Float32Array; readonly ln2w: Float32Array; readonly ln2b: Float32Array;
  readonly attn: Matrix; readonly attnB: Float32Array; readonly proj: Matrix; readonly projB: Float32Array;
  readonly fc: Matrix; readonly fcB: Float32Array; readonly fc2: Matrix; readonly fc2B: Float32Array;
  readonly kv: KVView;
}

class Model {
  readonly layers: Layer[] = [];
  readonly lnfW: Float32Array; readonly lnfB: Float32Array; readonly head: Matrix;
  private readonly x: Float32Array; private readonly h: Float32Array; private readonly qkv: Float32Array;
  private readonly att: Float32Array; private readonly ff: Float32Array; private readonly logits: Float32Array;
  private readonly q: Float32Array; private readonly scratch: Float32Array;

  constructor(readonly b: Backend, kind: "f32" | "q8", readonly maxT: number) {
    const scratch = new Float32Array(VOCAB * D);
    const vec = (n: number) => { const a = b.allocF32(n); fill(a, seed++); return a; };
    for (let l = 0; l < N_LAYER; l++) {
      this.layers.push({
        ln1w: vec(D), ln1b: vec(D), ln2w: vec(D), ln2b: vec(D),
        attn: matrix(b, kind, 3 * D, D, scratch), attnB: vec(3 * D), proj: matrix(b, kind, D, D, scratch), projB: vec(D),
        fc: matrix(b, kind, 4 * D, D, scratch), fcB: vec(4 * D), fc2: matrix(b, kind, D, 4 * D, scratch), fc2B: vec(D),
        kv: { k: vec(MAX_POS * D), v: vec(MAX_POS * D), blockTable: Int32Array.of(0), blockSize: MAX_POS },
      });
    }
    this.lnfW = vec(D); this.lnfB = vec(D);
    this.head = matrix(b, kind, VOCAB, D, scratch);
    this.x = vec(maxT * D); this.h = b.allocF32(maxT * D); this.qkv = b.allocF32(maxT * 3 * D);
    this.att = b.allocF32(maxT * D); this.ff = b.allocF32(maxT * 4 * D); this.logits = b.allocF32(VOCAB);
    this.q = b.allocF32(maxT * D); this.scratch = b.allocF32(N_HEAD * (MAX_POS + maxT));
  }

  /** t tokens at positions [pos, pos + t); logits for the last one only, as generation needs. */
  step(pos: number, t: number): void {
    const { b, x, h, qkv, att, ff } = this;
    for (const L of this.layers) {
      b.layerNorm(h, x, L.ln1w, L.ln1b, t, D, 1e-5);
      b.matmul(qkv, h, L.attn, L.attnB, t);
      for (let i = 0; i < t; i++) {
        // Split q/k/v as the model does: q to its own buffer, k and v into the cache.
        const row = qkv.subarray(i * 3 * D, (i + 1) * 3 * D);
        this.q.set(row.subarray(0, D), i * D);
        L.kv.k.set(row.subarray(D, 2 * D), (pos + i) * D);
        L.kv.v.set(row.subarray(2 * D), (pos + i) * D);
      }
      b.attention(att, this.q, 0, L.kv, pos, t, N_HEAD, N_HEAD, HEAD_DIM, this.scratch);
      b.matmul(h, att, L.proj, L.projB, t);
      b.addInPlace(x, h, t * D);
      b.layerNorm(h, x, L.ln2w, L.ln2b, t, D, 1e-5);
      b.matmul(ff, h, L.fc, L.fcB, t);
      b.gelu(ff, t * 4 * D);
      b.matmul(h, ff, L.fc2, L.fc2B, t);
      b.addInPlace(x, h, t * D);
    }
    b.layerNorm(h, x.subarray((t - 1) * D, t * D), this.lnfW, this.lnfB, 1, D, 1e-5);
    b.matmul(this.logits, h, this.head, null, 1);
  }
}

async function run(kind: "f32" | "q8", threads: number): Promise<void> {
  const b = await createWasmBackend({ threads });
  const prompt = 128;
  const m = new Model(b, kind, prompt);
  for (let i = 0; i < 3; i++) m.step(0, prompt); // warm-up: V8 tiers wasm up lazily
  const prefill: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    m.step(0, prompt);
    prefill.push(performance.now() - t0);
  }
  const decode: number[] = [];
  for (let pos = prompt; pos < prompt + 128; pos++) {
    const t0 = performance.now();
    m.step(pos, 1);
    decode.push(performance.now() - t0);
  }
  const sorted = [...decode].sort((p, q) => p - q);
  const median = sorted[sorted.length >> 1];
  console.log(`${kind} ${threads} thread${threads > 1 ? "s" : " "}: decode ${(1000 / median).toFixed(0).padStart(4)} tok/s (median of 128 steps at pos 128..255, best ${(1000 / sorted[0]).toFixed(0)}), ` +
    `prefill ${prompt} tokens ${((prompt * 1000) / Math.min(...prefill)).toFixed(0)} tok/s`);
  b.close();
}

for (const kind of ["f32", "q8"] as const) for (const threads of [1, 2]) await run(kind, threads);
