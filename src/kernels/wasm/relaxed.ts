import { setFlagsFromString } from "node:v8";

/** f32x4.relaxed_madd in a one-function module: validates only where relaxed SIMD is on. */
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0,
  10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11,
]);

/**
 * Turns on V8's relaxed SIMD on Node 20, where it is still behind a flag (it ships by default
 * from Node 22), so wasm backends created afterwards run the relaxed-SIMD kernels (fused
 * multiply-add, 16-lane int8 dot products) with `simd: "auto"` or `"relaxed"`. It changes a
 * process-wide engine flag, so it is the application's call, not the library's (the CLI makes it
 * unless given `--simd baseline`): call it once at startup, before creating a backend. Where
 * relaxed SIMD is already on it changes nothing. Returns whether relaxed SIMD is on.
 */
export function enableRelaxedSimd(): boolean {
  if (WebAssembly.validate(RELAXED_PROBE)) return true;
  setFlagsFromString("--experimental-wasm-relaxed-simd");
  return WebAssembly.validate(RELAXED_PROBE);
}
