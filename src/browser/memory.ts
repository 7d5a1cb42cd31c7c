import { UserError } from "../errors.js";
import { MAX_MEMORY_BYTES } from "../kernels/wasm/arena.js";
import type { WeightDType } from "../model/matrix.js";
import type { ModelSpec } from "../model/model.js";
import { kvWidth } from "../model/shape.js";

/** Smaller storages, tried in order when the command line's own (`storage`) cannot fit. */
const SMALLER: readonly WeightDType[] = ["f16", "q8"];

/**
 * The first of `storage` (what the command line picks without --dtype, so the output is the
 * same bit for bit; null: each GGUF matrix as stored), f16, q8 whose weights and KV cache fit
 * one wasm memory (4 GiB), or a UserError naming the numbers: checked before anything is allocated.
 */
export function fittingDType(spec: ModelSpec, contextLength: number, storage: WeightDType | null): WeightDType | null {
  const kvBytes = 2 * spec.shape.nLayer * contextLength * kvWidth(spec.shape) * Float32Array.BYTES_PER_ELEMENT;
  const fits = [storage, ...SMALLER].find((d) => spec.weightBytes(d) + kvBytes <= MAX_MEMORY_BYTES);
  if (fits !== undefined) return fits;
  const need = spec.weightBytes("q8") + kvBytes;
  throw new UserError(
    `this model needs ${gib(need)} of wasm memory even with q8 weights (${gib(spec.weightBytes("q8"))} of weights, ${gib(kvBytes)} of KV cache for ${contextLength} positions), ` +
      `more than the 4 GiB a WebAssembly memory can hold: pick a smaller model`,
  );
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}
