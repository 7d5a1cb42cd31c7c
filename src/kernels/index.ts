import { availableParallelism } from "node:os";
import type { Backend } from "./backend.js";
import { createReferenceBackend } from "./reference.js";
import { startWasmBackend, type WasmBackendOptions } from "./wasm/backend.js";
import { nodePlatform } from "./wasm/platform-node.js";

export type { Backend, F32Matrix, KVView, Matrix, Q8Matrix } from "./backend.js";
export { Q8_BLOCK } from "./backend.js";
export { quantizeQ4, quantizeQ8 } from "./quantize.js";
export { createReferenceBackend } from "./reference.js";
export type { WasmBackendOptions } from "./wasm/backend.js";
export type { SimdLevel } from "./wasm/exports.js";
export { enableRelaxedSimd } from "./wasm/relaxed.js";

/** A wasm backend on Node's worker threads. */
export function createWasmBackend(options: WasmBackendOptions = {}): Promise<Backend> {
  return startWasmBackend(nodePlatform, options);
}

export type BackendKind = "reference" | "wasm";

export interface BackendOptions {
  readonly kind: BackendKind;
  /** wasm only; default os.availableParallelism(). */
  readonly threads?: number;
  /** wasm only: see WasmBackendOptions.q8Activations. */
  readonly q8Activations?: "int8" | "f32";
  /** wasm only: see WasmBackendOptions.simd (default "auto": relaxed SIMD where the engine has it). */
  readonly simd?: WasmBackendOptions["simd"];
}

export async function createBackend(options: BackendOptions): Promise<Backend> {
  switch (options.kind) {
    case "reference":
      return createReferenceBackend();
    case "wasm":
      return createWasmBackend({ threads: options.threads ?? availableParallelism(), q8Activations: options.q8Activations, simd: options.simd });
    default: {
      const kind: never = options.kind;
      throw new Error(`unknown backend kind ${String(kind)}`);
    }
  }
}
