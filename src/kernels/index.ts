import type { Backend } from "./backend.js";
import { createReferenceBackend } from "./reference.js";

export type { Backend, F32Matrix, KVView, Matrix, Q8Matrix } from "./backend.js";
export { Q8_BLOCK } from "./backend.js";

export type BackendKind = "reference" | "wasm";

/** Creates a kernel backend. (The wasm backend is added by the SIMD kernels work.) */
export async function createBackend(options: { kind: BackendKind; threads?: number }): Promise<Backend> {
  if (options.kind === "reference") return createReferenceBackend();
  throw new Error(`backend ${options.kind} is not available yet`);
}
