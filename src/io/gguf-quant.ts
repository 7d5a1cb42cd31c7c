import { f16Table, f32ToF16 } from "../numeric/half.js";
import { GGMLType, type ReadableGGMLType, type WritableGGMLType } from "./gguf.js";
import { QK_K, Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES, dequantizeQ4K, dequantizeQ5K, dequantizeQ6K, quantizeQ4K, quantizeQ5K, quantizeQ6K } from "./gguf-kquants.js";

/**
 * ggml's tensor types, encoded and decoded as its reference C code defines them (ggml-quants.c
 * quantize_row_*_ref and dequantize_row_*; the K-quants are in gguf-kquants.ts). The 32-value
 * blocks:
 *   Q8_0: f16 d, 32 int8 q;                          w = q·d,        d = max|w| / 127
 *   Q4_0: f16 d, 16 bytes of nibbles (byte j holds element j low and j + 16 high);
 *                                                    w = (q − 8)·d,  d = (the w of largest magnitude) / −8
 *   Q5_0: f16 d, 4 bytes of fifth bits, 16 bytes of nibbles;  w = (q − 16)·d, d = that w / −16
 *   Q4_1: f16 d, f16 m, nibbles;                     w = q·d + m
 *   Q5_1: f16 d, f16 m, fifth bits, nibbles;         w = q·d + m,    d = (max − min) / 31, m = min
 * Q8_0, Q4_0 and Q5_0 are exactly a small signed integer times a scale per 32 values, which is
 * the engine's q8 storage (and, for Q4_0, a 4-bit one's): INT_BLOCK_BITS says how many bits.
 * Typed-array views assume a little-endian host, like GGUF.
 */

export const QK = 32;
const Q8_0_BYTES = 34;
const Q4_0_BYTES = 18;
const Q5_0_BYTES = 22;
const Q4_1_BYTES = 20;
const Q5_1_BYTES = 24;

/** The types whose values are exactly a signed integer of this many bits times an f16 scale per 32. */
export const INT_BLOCK_BITS = { [GGMLType.Q8_0]: 8, [GGMLType.Q5_0]: 5, [GGMLType.Q4_0]: 4 } as const;
export type IntBlockType = typeof GGMLType.Q8_0 | typeof GGMLType.Q5_0 | typeof GGMLType.Q4_0;

export function isIntBlockType(type: number): type is IntBlockType {
  return type === GGMLType.Q8_0 || type === GGMLType.Q5_0 || type === GGMLType.Q4_0;
}

/** C's roundf: halves go away from zero (Math.round sends -2.5 to -2). */
function roundf(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** Bytes that `count` values take in a ggml type (count a whole number of its blocks). */
export function encodedSize(type: WritableGGMLType, count: number): number {
  switch (type) {
    case GGMLType.F32: return count * 4;
    case GGMLType.F16: return count * 2;
    case GGMLType.Q8_0: return (count / QK) * Q8_0_BYTES;
    case GGMLType.Q4_0: return (count / QK) * Q4_0_BYTES;
    case GGMLType.Q5_0: return (count / QK) * Q5_0_BYTES;
    case GGMLType.Q5_1: return (count / QK) * Q5_1_BYTES;
    case GGMLType.Q4_K: return (count / QK_K) * Q4_K_BYTES;
    case GGMLType.Q5_K: return (count / QK_K) * Q5_K_BYTES;
    case GGMLType.Q6_K: return (count / QK_K) * Q6_K_BYTES;
  }
}

/** Encodes src[0, count) into out (at least encodedSize bytes) as `type`. */
export function encode(type: WritableGGMLType, src: Float32Array, count: number, out: Buffer): void {
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
    case GGMLType.Q5_0:
      for (let b = 0; b < count / QK; b++) encodeQ5Block(src, b * QK, out, b * Q5_0_BYTES);
      return;
    case GGMLType.Q5_1:
      for (let b = 0; b < count / QK; b++) encodeQ51Block(src, b * QK, out, b * Q5_1_BYTES);
      return;
    case GGMLType.Q4_K:
      quantizeQ4K(src, 0, count / QK_K, out, 0);
      return;
    case GGMLType.Q5_K:
      quantizeQ5K(src, 0, count / QK_K, out, 0);
      return;
    case GGMLType.Q6_K:
      quantizeQ6K(src, 0, count / QK_K, out, 0);
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

function encodeQ5Block(src: Float32Array, at: number, out: Buffer, o: number): void {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < QK; j++) {
    const v = src[at + j];
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const d = Math.fround(max / -16);
  const id = d !== 0 ? Math.fround(1 / d) : 0;
  out.writeUInt16LE(f32ToF16(d), o);
  let qh = 0;
  for (let j = 0; j < QK / 2; j++) {
    // (int8_t)(x + 16.5f) truncates; x >= -16 here, capped at 31.
    const lo = Math.min(31, Math.trunc(Math.fround(Math.fround(src[at + j] * id) + 16.5)));
    const hi = Math.min(31, Math.trunc(Math.fround(Math.fround(src[at + j + QK / 2] * id) + 16.5)));
    out[o + 6 + j] = (lo & 0x0f) | ((hi & 0x0f) << 4);
    qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + QK / 2));
  }
  out.writeUInt32LE(qh >>> 0, o + 2);
}

/** quantize_row_q5_1_ref: w ≈ q·d + min with d = (max − min) / 31. */
function encodeQ51Block(src: Float32Array, at: number, out: Buffer, o: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < QK; j++) {
    const v = src[at + j];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const d = Math.fround(Math.fround(max - min) / 31);
  const id = d !== 0 ? Math.fround(1 / d) : 0;
  out.writeUInt16LE(f32ToF16(d), o);
  out.writeUInt16LE(f32ToF16(min), o + 2);
  let qh = 0;
  for (let j = 0; j < QK / 2; j++) {
    // (uint8_t)(x + 0.5f) truncates; x >= 0 here and at most 31.
    const lo = Math.trunc(Math.fround(Math.fround(Math.fround(src[at + j] - min) * id) + 0.5));
    const hi = Math.trunc(Math.fround(Math.fround(Math.fround(src[at + j + QK / 2] - min) * id) + 0.5));
    out[o + 8 + j] = (lo & 0x0f) | ((hi & 0x0f) << 4);
    qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + QK / 2));
  }
  out.writeUInt32LE(qh >>> 0, o + 4);
}

/** Decodes `count` values of `type` from bytes into out[outOffset, outOffset + count) as f32, bit for bit as ggml does. */
export function decodeF32(type: ReadableGGMLType, bytes: Uint8Array, count: number, out: Float32Array, outOffset: number): void {
  const table = f16Table();
  const o = outOffset;
  switch (type) {
    case GGMLType.F32:
      if (bytes.byteOffset % 4 === 0) out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count), o);
      else {
        const view = new DataView(bytes.buffer, bytes.byteOffset, count * 4);
        for (let i = 0; i < count; i++) out[o + i] = view.getFloat32(i * 4, true);
      }
      return;
    case GGMLType.F16:
      if (bytes.byteOffset % 2 === 0) {
        const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
        for (let i = 0; i < count; i++) out[o + i] = table[halves[i]];
      } else {
        for (let i = 0; i < count; i++) out[o + i] = table[u16(bytes, i * 2)];
      }
      return;
    case GGMLType.BF16: {
      // The upper half of an f32: widening is a shift.
      const bits = new Uint32Array(out.buffer, out.byteOffset + o * 4, count);
      for (let i = 0; i < count; i++) bits[i] = (bytes[2 * i] << 16) | (bytes[2 * i + 1] << 24);
      return;
    }
    case GGMLType.Q8_0:
    case GGMLType.Q4_0:
    case GGMLType.Q5_0: {
      const blockBytes = type === GGMLType.Q8_0 ? Q8_0_BYTES : type === GGMLType.Q4_0 ? Q4_0_BYTES : Q5_0_BYTES;
      const q = new Int8Array(QK);
      for (let b = 0; b < count / QK; b++) {
        const d = intBlock(type, bytes, b * blockBytes, q, 0);
        for (let j = 0; j < QK; j++) out[o + b * QK + j] = q[j] * d;
      }
      return;
    }
    case GGMLType.Q4_1:
    case GGMLType.Q5_1: {
      const five = type === GGMLType.Q5_1;
      const blockBytes = five ? Q5_1_BYTES : Q4_1_BYTES;
      for (let b = 0; b < count / QK; b++) {
        const at = b * blockBytes;
        const d = table[u16(bytes, at)];
        const m = table[u16(bytes, at + 2)];
        const qh = five ? u32(bytes, at + 4) : 0;
        const qs = at + (five ? 8 : 4);
        for (let j = 0; j < QK / 2; j++) {
          const x0 = (bytes[qs + j] & 0x0f) | (((qh >>> j) << 4) & 0x10);
          const x1 = (bytes[qs + j] >> 4) | ((qh >>> (j + 12)) & 0x10);
          // x·d + m: two float roundings, as the C code (no fused multiply-add).
          out[o + b * QK + j] = Math.fround(x0 * d) + m;
          out[o + b * QK + j + QK / 2] = Math.fround(x1 * d) + m;
        }
      }
      return;
    }
    case GGMLType.Q4_K:
      dequantizeQ4K(bytes, 0, count / QK_K, out, o);
      return;
    case GGMLType.Q5_K:
      dequantizeQ5K(bytes, 0, count / QK_K, out, o);
      return;
    case GGMLType.Q6_K:
      dequantizeQ6K(bytes, 0, count / QK_K, out, o);
      return;
  }
}

/** One Q8_0/Q4_0/Q5_0 block at bytes[at..] as 32 signed integers into q[qo..]; returns its scale. */
function intBlock(type: IntBlockType, bytes: Uint8Array, at: number, q: Int8Array, qo: number): number {
  const d = f16Table()[bytes[at] | (bytes[at + 1] << 8)];
  if (type === GGMLType.Q8_0) {
    for (let j = 0; j < QK; j++) q[qo + j] = (bytes[at + 2 + j] << 24) >> 24;
  } else if (type === GGMLType.Q4_0) {
    for (let j = 0; j < QK / 2; j++) {
      const byte = bytes[at + 2 + j];
      q[qo + j] = (byte & 0x0f) - 8;
      q[qo + j + QK / 2] = (byte >> 4) - 8;
    }
  } else {
    const qh = u32(bytes, at + 2);
    for (let j = 0; j < QK / 2; j++) {
      const byte = bytes[at + 6 + j];
      q[qo + j] = ((byte & 0x0f) | (((qh >>> j) << 4) & 0x10)) - 16;
      q[qo + j + QK / 2] = ((byte >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16;
    }
  }
  return d;
}

/**
 * Copies `blocks` Q8_0, Q5_0 or Q4_0 blocks into integers and f32 scales (a q8 matrix's storage)
 * without rounding anything: the engine's integer kernels then see exactly the file's weights.
 */
export function decodeBlocksToQ8(type: IntBlockType, bytes: Uint8Array, blocks: number, q: Int8Array, qOffset: number, scales: Float32Array, scaleOffset: number): void {
  const blockBytes = type === GGMLType.Q8_0 ? Q8_0_BYTES : type === GGMLType.Q4_0 ? Q4_0_BYTES : Q5_0_BYTES;
  for (let b = 0; b < blocks; b++) scales[scaleOffset + b] = intBlock(type, bytes, b * blockBytes, q, qOffset + b * QK);
}

function u16(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8);
}

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}
