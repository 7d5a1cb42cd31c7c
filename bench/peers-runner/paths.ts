import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The repository root, from dist/bench/peers-runner/ (compiled) or bench/peers-runner/ (sources). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("cannot find the repository root");
    dir = parent;
  }
  return dir;
}

/**
 * The peers' own install and the cached models, git-ignored by a `*` .gitignore inside it:
 * never the project's dependencies, and not bench/peers/, which check-llama-cpp owns.
 */
export function peersDir(): string {
  return path.join(repoRoot(), "bench", ".peers");
}

/** A module's URL inside the peers' node_modules, for a dynamic import. */
export function peerModule(...parts: string[]): string {
  return pathToFileURL(path.join(peersDir(), "node_modules", ...parts)).href;
}
