import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { f16ToF32, f32ToF16 } from "../src/numeric/half.js";
import { readSafetensorsHeader, TensorReader } from "../src/io/safetensors.js";

/** A safetensors file with the same 37 values (F16-exact, so every dtype holds them) as F32, F16 and BF16. */
function writeFixture(file: string): number[] {
  const values = Array.from({ length: 37 }, (_, i) => f16ToF32(f32ToF16((i - 18) * 0.37 + (i % 5 === 0 ? 6e-6 : 0))));
  // BF16 keeps the top 16 bits of an f32: store values that survive that exactly.
  const bf16 = values.map((v) => Math.fround(v)).map((v) => new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16);
  const bf16Values = bf16.map((b) => new Float32Array(Uint32Array.of(b << 16).buffer)[0]);
  const f32 = Buffer.from(Float32Array.from(values).buffer);
  const f16 = Buffer.from(Uint16Array.from(values, f32ToF16).buffer);
  const bf = Buffer.from(Uint16Array.from(bf16).buffer);
  const header = JSON.stringify({
    a: { dtype: "F32", shape: [37], data_offsets: [0, f32.length] },
    b: { dtype: "F16", shape: [37], data_offsets: [f32.length, f32.length + f16.length] },
    c: { dtype: "BF16", shape: [37], data_offsets: [f32.length + f16.length, f32.length + f16.length + bf.length] },
  });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(file, Buffer.concat([len, Buffer.from(header), f32, f16, bf]));
  return [...values, ...bf16Values];
}

test("TensorReader reads F32 and widens F16 and BF16 in place, whole tensors and ranges", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "nanogpt-st-"));
  const reader = new TensorReader();
  try {
    const file = path.join(dir, "t.safetensors");
    const all = writeFixture(file);
    const values = all.slice(0, 37), bf16Values = all.slice(37);
    const byName = new Map(readSafetensorsHeader(file).map((t) => [t.name, t]));
    for (const [name, expected] of [["a", values], ["b", values], ["c", bf16Values]] as const) {
      const info = byName.get(name);
      assert.ok(info !== undefined);
      const whole = new Float32Array(37);
      reader.readF32(info, whole);
      assert.deepEqual([...whole], expected.map(Math.fround), `${name} whole`);
      // A range into a longer destination: the values land at its start, the rest is untouched.
      const part = new Float32Array(20).fill(-1);
      reader.readF32(info, part, 5, 13);
      assert.deepEqual([...part.subarray(0, 13)], expected.slice(5, 18).map(Math.fround), `${name} range`);
      assert.ok(part.subarray(13).every((v) => v === -1), `${name}: nothing written past the range`);
    }
  } finally {
    reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
