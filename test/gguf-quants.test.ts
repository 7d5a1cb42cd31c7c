import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { GGMLType, ggmlByteSize, type ReadableGGMLType, type WritableGGMLType } from "../src/io/gguf.js";
import { decodeBlocksToQ8, decodeF32, encode, encodedSize, INT_BLOCK_BITS, type IntBlockType } from "../src/io/gguf-quant.js";
import { fixtures } from "./paths.js";

/**
 * Every ggml type the engine reads, decoded bit for bit as llama.cpp does, and every type it
 * writes, encoded byte for byte as llama.cpp does: against goldens from gguf-py's quants.py and
 * ggml-quants.c (scripts/quant-goldens/make-quant-goldens.py, which checks the two agree).
 */

const dir = path.join(fixtures, "gguf-quants");
const read = (name: string): Buffer => fs.readFileSync(path.join(dir, name));
const floats = (b: Buffer): Float32Array => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));

const READ: [string, ReadableGGMLType][] = [
  ["F16", GGMLType.F16],
  ["BF16", GGMLType.BF16],
  ["Q8_0", GGMLType.Q8_0],
  ["Q4_0", GGMLType.Q4_0],
  ["Q4_1", GGMLType.Q4_1],
  ["Q5_0", GGMLType.Q5_0],
  ["Q5_1", GGMLType.Q5_1],
  ["Q4_K", GGMLType.Q4_K],
  ["Q5_K", GGMLType.Q5_K],
  ["Q6_K", GGMLType.Q6_K],
];
const WRITE: [string, WritableGGMLType][] = [
  ["Q8_0", GGMLType.Q8_0],
  ["Q4_0", GGMLType.Q4_0],
  ["Q5_0", GGMLType.Q5_0],
  ["Q5_1", GGMLType.Q5_1],
  ["Q4_K", GGMLType.Q4_K],
  ["Q5_K", GGMLType.Q5_K],
  ["Q6_K", GGMLType.Q6_K],
];

/** Index of the first value whose bits differ, or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

describe("GGUF dequantization matches ggml's reference bit for bit", () => {
  for (const [name, type] of READ) {
    it(name, () => {
      const blocks = read(`${name}.blocks`);
      const want = floats(read(`${name}.dequant`));
      assert.equal(blocks.length, ggmlByteSize(type, want.length));
      const got = new Float32Array(want.length + 3).fill(NaN);
      decodeF32(type, blocks, want.length, got, 3);
      const at = firstBitDifference(got.subarray(3), want);
      assert.equal(at, -1, `${name} value ${at}: ${got[3 + at]} vs ggml's ${want[at]}`);
      assert.ok(Number.isNaN(got[2]), "nothing written before outOffset");
    });
  }

  it("decodes from a Buffer at an odd byte offset", () => {
    for (const [name, type] of READ) {
      const blocks = read(`${name}.blocks`);
      const shifted = Buffer.alloc(blocks.length + 1);
      blocks.copy(shifted, 1);
      const want = floats(read(`${name}.dequant`));
      const got = new Float32Array(want.length);
      decodeF32(type, shifted.subarray(1), want.length, got, 0);
      assert.equal(firstBitDifference(got, want), -1, name);
    }
  });

  for (const [name, type] of [["Q8_0", GGMLType.Q8_0], ["Q5_0", GGMLType.Q5_0], ["Q4_0", GGMLType.Q4_0]] as [string, IntBlockType][]) {
    it(`${name} blocks become q8 storage (integer × scale) without rounding`, () => {
      const blocks = read(`${name}.blocks`);
      const want = floats(read(`${name}.dequant`));
      const q = new Int8Array(want.length);
      const scales = new Float32Array(want.length / 32);
      decodeBlocksToQ8(type, blocks, scales.length, q, 0, scales, 0);
      const bits = INT_BLOCK_BITS[type];
      for (let i = 0; i < want.length; i++) {
        assert.ok(q[i] >= -(2 ** (bits - 1)) && q[i] < 2 ** (bits - 1), `${name} q[${i}] = ${q[i]} fits ${bits} bits`);
        assert.equal(Math.fround(q[i] * scales[i >> 5]), want[i], `${name} value ${i}`);
      }
    });
  }
});

describe("GGUF quantization matches ggml's reference byte for byte", () => {
  const input = floats(read("input.f32"));
  for (const [name, type] of WRITE) {
    it(name, () => {
      const want = read(`${name}.quant`);
      assert.equal(encodedSize(type, input.length), want.length);
      const got = Buffer.alloc(want.length);
      encode(type, input, input.length, got);
      const at = got.findIndex((b, i) => b !== want[i]);
      assert.equal(at, -1, `${name} byte ${at}: ${got[at]} vs ggml's ${want[at]}`);
    });
  }

  it("the quantized goldens decode close to the input (the goldens are not all zeros)", () => {
    for (const [name, type] of WRITE) {
      const y = new Float32Array(input.length);
      decodeF32(type, read(`${name}.quant`), input.length, y, 0);
      let err = 0;
      let norm = 0;
      for (let i = 0; i < input.length; i++) {
        err += (y[i] - input[i]) ** 2;
        norm += input[i] ** 2;
      }
      assert.ok(Math.sqrt(err / norm) < 0.12, `${name}: relative error ${Math.sqrt(err / norm)}`);
    }
  });
});
