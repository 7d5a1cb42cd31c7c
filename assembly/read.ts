// A kernel that only reads: what a matmul's weight stream costs with no arithmetic behind it.

/**
 * out (i32) = the wrapping sum of the little-endian 32-bit words of bytes [i0, i1) of data, a last
 * partial word zero-padded. i0 is a multiple of 64 (threads split a call at such bytes), so the
 * words are the same whichever chunk reads them.
 */
export function readSum(out: usize, data: usize, i0: i32, i1: i32): void {
  let p = data + <usize>i0;
  const end = data + <usize>i1;
  const end64 = p + (<usize>(i1 - i0) & ~63);
  // Four independent sums, as the matmul keeps four, so the loads can all be in flight.
  let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
  while (p < end64) {
    s0 = i32x4.add(s0, v128.load(p));
    s1 = i32x4.add(s1, v128.load(p, 16));
    s2 = i32x4.add(s2, v128.load(p, 32));
    s3 = i32x4.add(s3, v128.load(p, 48));
    p += 64;
  }
  const s = i32x4.add(i32x4.add(s0, s1), i32x4.add(s2, s3));
  let sum = i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
  while (p + 4 <= end) {
    sum += load<i32>(p);
    p += 4;
  }
  for (let shift = 0; p < end; p++, shift += 8) sum += <i32>load<u8>(p) << shift;
  store<i32>(out, sum);
}
