import type { Backend } from "../src/kernels/backend.js";
import { mulberry32 } from "./helpers.js";

/** Uniform in [-1, 1), so weights and activations take both signs. */
export function rng(seed: number): () => number {
  const u = mulberry32(seed);
  return () => 2 * u() - 1;
}

export function random(length: number, rand: () => number, scale = 1): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = rand() * scale;
  return a;
}

/** A copy of `src` in the backend's memory. */
export function onto(b: Backend, src: Float32Array): Float32Array {
  const a = b.allocF32(src.length);
  a.set(src);
  return a;
}
