/** IEEE half-precision floats (F16 in safetensors and GGUF), converted in both directions. */

/** IEEE half → float, including subnormals, infinities and NaN. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let f16Lookup: Float32Array | null = null;
/** All 65536 half values widened once (256 KB), so converting is one load per element. */
export function f16Table(): Float32Array {
  if (f16Lookup === null) {
    f16Lookup = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Lookup[h] = f16ToF32(h);
  }
  return f16Lookup;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float → IEEE half, rounding to nearest even (what F16C and numpy do), with overflow to ±inf. */
export function f32ToF16(value: number): number {
  f32[0] = value;
  return f32BitsToF16(u32[0]);
}

/** f32ToF16 of the float whose bits are `x` (as a Uint32Array or Int32Array view reads them). */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  const e = exp - 127 + 15;
  if (e > 0 && e < 0x1f) {
    // A normal half, nearly every weight: round to nearest even without a branch (random
    // mantissas would mispredict half the time). 0xfff plus the kept lowest bit carries into
    // bit 13 exactly when rounding up; a carry out of the mantissa goes on into the exponent,
    // up to 0x7c00 (inf) past the largest half.
    return sign | ((e << 10) + ((mant + 0xfff + ((mant >>> 13) & 1)) >>> 13));
  }
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  if (e >= 0x1f) return sign | 0x7c00;
  if (e < -10) return sign;
  // Subnormal half: shift in the implicit bit and round the dropped bits to nearest even.
  mant |= 0x800000;
  const shift = 14 - e;
  const half = 1 << (shift - 1);
  const rest = mant & ((1 << shift) - 1);
  let h = mant >>> shift;
  if (rest > half || (rest === half && (h & 1) !== 0)) h++;
  return sign | h;
}
