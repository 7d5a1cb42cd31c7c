import { setFlagsFromString } from "node:v8";

/**
 * Turns on V8's relaxed SIMD on Node 20, where it is still behind a flag (it ships by default
 * from Node 22), so wasm backends created afterwards with `simd: "relaxed"` can use the fused
 * multiply-add kernels, which speed up prefill matmuls. It changes a process-wide engine flag, so it
 * is the application's call, not the library's: call it once at startup, before creating a
 * backend. Returns whether it worked.
 */
export function enableRelaxedSimd(): boolean {
  setFlagsFromString("--experimental-wasm-relaxed-simd");
  // f32x4.relaxed_madd in a one-function module: validates only where relaxed SIMD is on.
  const probe = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0,
    10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11,
  ]);
  return WebAssembly.validate(probe);
}
