// Rotary position embedding (Hugging Face's rotate-half layout) over tokens [i0, i1), in place.
// Each result is a·c − b·s or b·c + a·s with both products rounded before the add, which is what
// HF's q·cos + rotate_half(q)·sin gives in f32; no fused multiply-add, in either build.

/**
 * x is (tokens, nHeads, headDim); token i is at position positions[i] (i32, checked by the
 * host against the tables), whose row of cos and sin (headDim / 2 floats each) rotates the
 * pairs (x[j], x[j + headDim / 2]) of every head.
 */
export function rope(x: usize, nHeads: i32, headDim: i32, positions: usize, cos: usize, sin: usize, i0: i32, i1: i32): void {
  const halfBytes = <usize>(headDim >> 1) << 2;
  const vecBytes = halfBytes & ~15;
  const headBytes = halfBytes << 1;
  const tokenBytes = <usize>nHeads * headBytes;
  for (let i = i0; i < i1; i++) {
    const at = <usize>load<i32>(positions + (<usize>i << 2)) * halfBytes;
    const ct = cos + at, st = sin + at;
    const xt = x + <usize>i * tokenBytes;
    for (let h: usize = 0; h < tokenBytes; h += headBytes) {
      const lo = xt + h, hi = lo + halfBytes;
      let j: usize = 0;
      for (; j < vecBytes; j += 16) {
        const a = v128.load(lo + j), b = v128.load(hi + j);
        const c = v128.load(ct + j), s = v128.load(st + j);
        v128.store(lo + j, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)));
        v128.store(hi + j, f32x4.add(f32x4.mul(b, c), f32x4.mul(a, s)));
      }
      for (; j < halfBytes; j += 4) {
        const a = load<f32>(lo + j), b = load<f32>(hi + j);
        const c = load<f32>(ct + j), s = load<f32>(st + j);
        store<f32>(lo + j, a * c - b * s);
        store<f32>(hi + j, b * c + a * s);
      }
    }
  }
}
