import type { Backend, KVArray, KVView, Matrix, Q4KMatrix, Q6KMatrix, WeightArray } from "./backend.js";
import { headGroup, Q4_BLOCK, Q4K_BLOCK, Q5_BLOCK, Q8_BLOCK } from "./backend.js";
import { weightHalfTable } from "./f16.js";
import { q4kDotQ8K, quantizeQ8K } from "./q4k.js";
import { q5Value } from "./q5.js";
import { q6kDotQ8K } from "./q6k.js";
import { q4Nibble } from "./quantize.js";
import { f16Table } from "../numeric/half.js";
import { writeMatrixColumns, writeMatrixRows } from "./write-matrix.js";

/**
 * The reference backend: plain TypeScript, one thread. It is the definition every faster
 * backend is tested against, so it favours clarity over speed.
 */
export function matmul(out: Float32Array, x: Float32Array, w: Matrix, bias: Float32Array | null, n: number): void {
  if (w.kind === "q4k" || w.kind === "q6k") {
    matmulQ8K(out, x, w, bias, n);
    return;
  }
  const { rows, cols } = w;
  for (let i = 0; i < n; i++) {
    const xOff = i * cols;
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      if (w.kind === "f32") {
        const wOff = r * cols;
        for (let c = 0; c < cols; c++) sum += x[xOff + c] * w.data[wOff + c];
      } else if (w.kind === "f16") {
        const half = weightHalfTable();
        const wOff = r * cols;
        for (let c = 0; c < cols; c++) sum += x[xOff + c] * half[w.data[wOff + c]];
      } else if (w.kind === "q5") {
        const blocksPerRow = cols / Q5_BLOCK;
        for (let blk = 0; blk < blocksPerRow; blk++) {
          const base = r * cols + blk * Q5_BLOCK;
          let dot = 0;
          for (let c = 0; c < Q5_BLOCK; c++) dot += x[xOff + blk * Q5_BLOCK + c] * (q5Value(w, base + c) - 16);
          sum += dot * w.scales[r * blocksPerRow + blk];
        }
      } else if (w.kind === "q4") {
        const blocksPerRow = cols / Q4_BLOCK;
        for (let blk = 0; blk < blocksPerRow; blk++) {
          const base = r * cols + blk * Q4_BLOCK;
          let dot = 0;
          for (let c = 0; c < Q4_BLOCK; c++) dot += x[xOff + blk * Q4_BLOCK + c] * q4Nibble(w.q, base + c);
          sum += dot * w.scales[r * blocksPerRow + blk];
        }
      } else {
        const blocksPerRow = cols / Q8_BLOCK;
        for (let blk = 0; blk < blocksPerRow; blk++) {
          const base = r * cols + blk * Q8_BLOCK;
          let dot = 0;
          for (let c = 0; c < Q8_BLOCK; c++) dot += x[xOff + blk * Q8_BLOCK + c] * w.q[base + c];
          sum += dot * w.scales[r * blocksPerRow + blk];
        }
      }
      out[i * rows + r] = bias === null ? sum : sum + bias[r];
    }
  }
}

/** q4k and q6k meet x quantized as ggml's Q8_K, as llama.cpp's Q4_K and Q6_K dot products do. */
function matmulQ8K(out: Float32Array, x: Float32Array, w: Q4KMatrix | Q6KMatrix, bias: Float32Array | null, n: number): void {
  const { rows, cols } = w;
  const xq = new Int8Array(cols);
  const xScales = new Float32Array(cols / Q4K_BLOCK);
  for (let i = 0; i < n; i++) {
    quantizeQ8K(x.subarray(i * cols, (i + 1) * cols), xq, xScales);
    for (let r = 0; r < rows; r++) {
      const sum = w.kind === "q4k" ? q4kDotQ8K(w, r, xq, xScales) : q6kDotQ8K(w, r, xq, xScales);
      out[i * rows + r] = bias === null ? sum : sum + bias[r];
    }
  }
}

export function layerNorm(out: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array, n: number, d: number, eps: number): void {
  for (let i = 0; i < n; i++) {
    const off = i * d;
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[off + j];
    mean /= d;
    let variance = 0;
    for (let j = 0; j < d; j++) {
      const diff = x[off + j] - mean;
      variance += diff * diff;
    }
    variance /= d;
    const invStd = 1 / Math.sqrt(variance + eps);
    for (let j = 0; j < d; j++) out[off + j] = (x[off + j] - mean) * invStd * weight[j] + bias[j];
  }
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function gelu(x: Float32Array, length: number): void {
  for (let i = 0; i < length; i++) {
    const v = x[i];
    x[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
  }
}

export function addInPlace(x: Float32Array, y: Float32Array, length: number): void {
  for (let i = 0; i < length; i++) x[i] += y[i];
}

export function readSum(data: WeightArray): number {
  const bytes = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const whole = data.byteLength & ~3;
  let sum = 0;
  for (let i = 0; i < whole; i += 4) sum = (sum + bytes.getInt32(i, true)) | 0;
  for (let i = whole; i < data.byteLength; i++) sum = (sum + (bytes.getUint8(i) << (8 * (i & 3)))) | 0;
  return sum >>> 0;
}

export function attention(
  out: Float32Array,
  q: Float32Array,
  row: number,
  kv: KVView,
  pos: number,
  t: number,
  nHead: number,
  nKVHead: number,
  headDim: number,
  scratch: Float32Array,
): void {
  const { blockTable, blockSize } = kv;
  const k = widened(kv.k), v = widened(kv.v);
  const group = headGroup("attention", nHead, nKVHead);
  const width = nHead * headDim; // floats per query and output row
  const kvWidth = nKVHead * headDim; // floats per cached position
  const scale = 1 / Math.sqrt(headDim);
  for (let h = 0; h < nHead; h++) {
    const scores = scratch.subarray(h * (pos + t), (h + 1) * (pos + t));
    const kvHead = Math.floor(h / group) * headDim;
    for (let i = 0; i < t; i++) {
      const qOff = (row + i) * width + h * headDim;
      const visible = pos + i + 1; // causal: query i sees cache positions [0, pos + i]
      let max = -Infinity;
      for (let p = 0; p < visible; p++) {
        const kOff = (blockTable[Math.floor(p / blockSize)] * blockSize + (p % blockSize)) * kvWidth + kvHead;
        let dot = 0;
        for (let j = 0; j < headDim; j++) dot += q[qOff + j] * k(kOff + j);
        scores[p] = dot * scale;
        if (scores[p] > max) max = scores[p];
      }
      let sum = 0;
      for (let p = 0; p < visible; p++) {
        scores[p] = Math.exp(scores[p] - max);
        sum += scores[p];
      }
      const oOff = (row + i) * width + h * headDim;
      for (let j = 0; j < headDim; j++) out[oOff + j] = 0;
      for (let p = 0; p < visible; p++) {
        const vOff = (blockTable[Math.floor(p / blockSize)] * blockSize + (p % blockSize)) * kvWidth + kvHead;
        const weight = scores[p] / sum;
        for (let j = 0; j < headDim; j++) out[oOff + j] += weight * v(vOff + j);
      }
    }
  }
}

/** Element i of a cache pool as a number: f32 as stored, a half widened. */
function widened(a: KVArray): (i: number) => number {
  if (a instanceof Float32Array) return (i) => a[i];
  const half = f16Table();
  return (i) => half[a[i]];
}

export function rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, n: number, d: number, eps: number): void {
  for (let i = 0; i < n; i++) {
    const off = i * d;
    let squares = 0;
    for (let j = 0; j < d; j++) squares += x[off + j] * x[off + j];
    const invRms = 1 / Math.sqrt(squares / d + eps);
    for (let j = 0; j < d; j++) out[off + j] = x[off + j] * invRms * weight[j];
  }
}

export function rope(x: Float32Array, n: number, nHeads: number, headDim: number, positions: Int32Array, cos: Float32Array, sin: Float32Array): void {
  const half = headDim / 2;
  for (let i = 0; i < n; i++) {
    const table = positions[i] * half;
    for (let h = 0; h < nHeads; h++) {
      const off = (i * nHeads + h) * headDim;
      for (let j = 0; j < half; j++) {
        const a = x[off + j], b = x[off + j + half];
        const c = cos[table + j], s = sin[table + j];
        x[off + j] = a * c - b * s;
        x[off + j + half] = b * c + a * s;
      }
    }
  }
}

export function siluMul(out: Float32Array, gateUp: Float32Array, n: number, d: number): void {
  // Row by row, each element read before it is written: safe for out = gateUp.subarray(0, n·d).
  for (let i = 0; i < n; i++) {
    const gOff = 2 * i * d;
    for (let j = 0; j < d; j++) {
      const g = gateUp[gOff + j];
      out[i * d + j] = (g / (1 + Math.exp(-g))) * gateUp[gOff + d + j];
    }
  }
}

export function createReferenceBackend(): Backend {
  let scratch = new Float32Array(0);
  return {
    name: "reference",
    threads: 1,
    allocF32: (length) => new Float32Array(length),
    allocI8: (length) => new Int8Array(length),
    allocU16: (length) => new Uint16Array(length),
    writeMatrixRows,
    writeMatrixColumns,
    matmul,
    layerNorm,
    rmsNorm,
    rope,
    siluMul,
    gelu,
    addInPlace,
    attention,
    attentionDecode: (out, q, row, kvs, positions, count, nHead, nKVHead, headDim) => {
      for (let i = 0; i < count; i++) {
        const need = nHead * (positions[i] + 1);
        if (scratch.length < need) scratch = new Float32Array(need);
        attention(out, q, row + i, kvs[i], positions[i], 1, nHead, nKVHead, headDim, scratch);
      }
    },
    close: () => {},
  };
}
