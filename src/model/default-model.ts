import { fileURLToPath } from "node:url";

/**
 * The model shipped inside the package, so the CLI works offline right after install.
 * This module runs compiled as dist/src/model/default-model.js; the model sits at models/.
 */
export function defaultModelDir(): string {
  return fileURLToPath(new URL("../../../models/shakespeare-byte-gpt2", import.meta.url));
}
