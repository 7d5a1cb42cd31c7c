import { f16Table, f32ToF16 } from "../numeric/half.js";
import { GGMLType, type SupportedGGMLType } from "./gguf.js";

/**
 * ggml's block formats, encoded and decoded as its reference C code defines them (ggml-quants.c):
 *   Q8_0: f16 d, then 32 int8 q;         w = q * d,       d = max|w| / 127
 *   Q4_0: f16 d, then 16 bytes of nibbles: byte j holds element j (low) and j + 16 (high);
 *         w = (nibble - 8) * d,          d = (the signed w of largest magnitude) / -8
 * Both store exactly an int8 and a per-32 scale, which is the engine's Q8Matrix, so quantized
 * files load without requantizing. Typed-array views assume a little-endian host, like GGUF.
 */

export const QK = 32;
const Q8_0_BYTES = 34;
const Q4_0_BYTES = 18;

/** C's roundf: halves go away from zero (Math.round sends -2.5 to -2). */
function roundf(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** Bytes that `count` values take in a ggml type (count a multiple of 32 for the quantized ones). */
export function encodedSize(type: SupportedGGMLType, count: number): number {
  switch (type) {
    case GGMLType.F32: return count * 4;
    case GGMLType.F16: return count * 2;
    case GGMLType.Q8_0: return (count / QK) * Q8_0_BYTES;
    case GGMLType.Q4_0: return (count / QK) * Q4_0_BYTES;
  }
}

/** Encodes src[0, count) into out (at least encodedSize bytes) as `type`. */
export function encode(type: SupportedGGMLType, src: Float32Array, count: number, out: Buffer): void {
  switch (type) {
    case GGMLType.F32:
      Buffer.from(src.buffer, src.byteOffset, count * 4).copy(out, 0);
      return;
    case GGMLType.F16:
      for (let i = 0; i < count; i++) out.writeUInt16LE(f32ToF16(src[i]), i * 2);
      return;
    case GGMLType.Q8_0:
      for (let b = 0; b < count / QK; b++) encodeQ8Block(src, b * QK, out, b * Q8_0_BYTES);
      return;
    case GGMLType.Q4_0:
      for (let b = 0; b < count / QK; b++) encodeQ4Block(src, b * QK, out, b * Q4_0_BYTES);
      return;
  }
}

function encodeQ8Block(src: Float32Array, at: number, out: Buffer, o: number): void {
  let amax = 0;
  for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(src[at + j]));
  const d = Math.fround(amax / 127);
  const id = d !== 0 ? Math.fround(1 / d) : 0;
  out.writeUInt16LE(f32ToF16(d), o);
  for (let j = 0; j < QK; j++) out.writeInt8(roundf(Math.fround(src[at + j] * id)), o + 2 + j);
}

function encodeQ4Block(src: Float32Array, at: number, out: Buffer, o: number): void {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < QK; j++) {
    const v = src[at + j];
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const d = Math.fround(max / -8);
  const id = d !== 0 ? Math.fround(1 / d) : 0;
  out.writeUInt16LE(f32ToF16(d), o);
  for (let j = 0; j < QK / 2; j++) {
    // C truncates (int8_t)(x + 8.5f); x >= -8 here, so that is a floor, capped at 15.
    const lo = Math.min(15, Math.trunc(Math.fround(Math.fround(src[at + j] * id) + 8.5)));
    const hi = Math.min(15, Math.trunc(Math.fround(Math.fround(src[at + j + QK / 2] * id) + 8.5)));
    out[o + 2 + j] = lo | (hi << 4);
  }
}

/** Decodes `count` values of `type` from bytes into out[outOffset, outOffset + count) as f32. */
export function decodeF32(type: SupportedGGMLType, bytes: Uint8Array, count: number, out: Float32Array, outOffset: number): void {
  const table = f16Table();
  switch (type) {
    case GGMLType.F32:
      if (bytes.byteOffset % 4 === 0) out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count), outOffset);
      else {
        const view = new DataView(bytes.buffer, bytes.byteOffset, count * 4);
        for (let i = 0; i < count; i++) out[outOffset + i] = view.getFloat32(i * 4, true);
      }
      return;
    case GGMLType.F16:
      if (bytes.byteOffset % 2 === 0) {
        const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
        for (let i = 0; i < count; i++) out[outOffset + i] = table[halves[i]];
      } else {
        for (let i = 0; i < count; i++) out[outOffset + i] = table[u16(bytes, i * 2)];
      }
      return;
    case GGMLType.Q8_0:
      for (let b = 0; b < count / QK; b++) {
        const o = b * Q8_0_BYTES;
        const d = table[u16(bytes, o)];
        for (let j = 0; j < QK; j++) out[outOffset + b * QK + j] = ((bytes[o + 2 + j] << 24) >> 24) * d;
      }
      return;
    case GGMLType.Q4_0:
      for (let b = 0; b < count / QK; b++) {
        const o = b * Q4_0_BYTES;
        const d = table[u16(bytes, o)];
        for (let j = 0; j < QK / 2; j++) {
          const byte = bytes[o + 2 + j];
          out[outOffset + b * QK + j] = ((byte & 0x0f) - 8) * d;
          out[outOffset + b * QK + j + QK / 2] = ((byte >> 4) - 8) * d;
        }
      }
      return;
  }
}

/**
 * Copies `blocks` Q8_0 or Q4_0 blocks into int8 values and f32 scales (a Q8Matrix's storage)
 * without rounding anything: the engine's int8 kernels then see exactly the file's weights.
 */
export function decodeBlocksToQ8(type: typeof GGMLType.Q8_0 | typeof GGMLType.Q4_0, bytes: Uint8Array, blocks: number, q: Int8Array, qOffset: number, scales: Float32Array, scaleOffset: number): void {
  const table = f16Table();
  if (type === GGMLType.Q8_0) {
    const values = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let b = 0; b < blocks; b++) {
      const o = b * Q8_0_BYTES;
      scales[scaleOffset + b] = table[u16(bytes, o)];
      q.set(values.subarray(o + 2, o + 2 + QK), qOffset + b * QK);
    }
    return;
  }
  for (let b = 0; b < blocks; b++) {
    const o = b * Q4_0_BYTES;
    scales[scaleOffset + b] = table[u16(bytes, o)];
    const base = qOffset + b * QK;
    for (let j = 0; j < QK / 2; j++) {
      const byte = bytes[o + 2 + j];
      q[base + j] = (byte & 0x0f) - 8;
      q[base + j + QK / 2] = (byte >> 4) - 8;
    }
  }
}

/** The little-endian u16 at bytes[at] (a block's f16 scale). */
function u16(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8);
}
