import os from "node:os";
import { UserError } from "../errors.js";
import type { BackendKind } from "../kernels/index.js";
import { MAX_MEMORY_BYTES } from "../kernels/wasm/arena.js";
import type { WeightDType } from "../model/matrix.js";
import type { ModelSpec } from "../model/model.js";

/** Smaller storage first tried when the asked-for dtype does not fit. */
const SMALLER: Record<WeightDType, readonly WeightDType[]> = { f32: ["f16", "q8"], f16: ["q8"], q8: [], q4: [], q4k: [], q5: [], q6k: [] };
const STORED_ALTERNATIVES: readonly WeightDType[] = ["f16", "q8", "q5", "q4"];

/**
 * Refuses, before a byte of weights is read, a model and cache that cannot fit: the wasm backend
 * addresses 4 GiB at most and the reference backend the machine's memory. Without this a 160 GB
 * checkpoint reads gigabytes before failing, or grows toward the OOM killer. `kv` says what sized
 * the cache and which flag shrinks it.
 */
export function checkModelFits(spec: ModelSpec, backend: BackendKind, dtype: WeightDType | null, kvBytes: number, kv: { what: string; flag: string }): void {
  const weights = spec.weightBytes(dtype);
  const total = weights + kvBytes;
  const limit = backend === "wasm" ? MAX_MEMORY_BYTES : os.totalmem();
  if (total <= limit) return;
  const where = backend === "wasm" ? `the 4 GiB (${MAX_MEMORY_BYTES} bytes) wasm32 can address` : `this machine's ${gib(limit)} (${limit} bytes, os.totalmem())`;
  // Stored as the checkpoint is: whichever single storage would be smaller.
  const smallerKinds = dtype === null ? STORED_ALTERNATIVES.filter((d) => spec.weightBytes(d) < weights) : SMALLER[dtype];
  const smaller = smallerKinds.map((d) => ({ dtype: d, bytes: spec.weightBytes(d) + kvBytes }));
  const fits = smaller.find((s) => s.bytes <= limit);
  const smallest = smallerKinds.length === 0 ? weights : spec.weightBytes("q8");
  let advice: string;
  if (fits !== undefined) advice = `--dtype ${fits.dtype} would fit (${gib(fits.bytes)})`;
  else if (smallest >= limit) {
    const reference = backend === "wasm" && smallest + kvBytes <= os.totalmem() ? " (--backend reference can use the machine's memory)" : "";
    advice = `even q8 weights take ${gib(smallest)}: the model is too big for this backend${reference}`;
  } else if (weights < limit) advice = `keep the KV cache under ${Math.floor((limit - weights) / 2 ** 20)} MB with a smaller ${kv.flag}`;
  else advice = `use a smaller --dtype (${smaller.map((x, i) => `${x.dtype} ${i === 0 ? "would need " : ""}${gib(x.bytes)}`).join(", ")}) and a smaller ${kv.flag}`;
  throw new UserError(
    `the model and its caches need ${gib(total)} of ${backend === "wasm" ? "wasm memory" : "memory"} (${total} bytes), more than ${where}: ` +
      `the ${dtype ?? "stored"} weights take ${gib(weights)} and the KV cache (${kv.what}) ${gib(kvBytes)}; ${advice}`,
  );
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}
