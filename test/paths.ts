import { fileURLToPath } from "node:url";
import path from "node:path";

/** The repository root, whether tests run from test/ (sources) or dist/test/ (compiled). */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (path.basename(dir) !== "test") dir = path.dirname(dir);
  const parent = path.dirname(dir);
  return path.basename(parent) === "dist" ? path.dirname(parent) : parent;
}

export const repoRoot = findRoot();
export const fixtures = path.join(repoRoot, "test", "fixtures");
export const defaultModelDir = path.join(repoRoot, "models", "shakespeare-byte-gpt2");
