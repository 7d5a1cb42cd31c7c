import path from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "../make-random-gpt2.js";

export { repoRoot };

/**
 * The peers' own install and the cached models, git-ignored by a `*` .gitignore inside it:
 * never the project's dependencies. bench:peers and check:llama-cpp share it.
 */
export function peersDir(): string {
  return path.join(repoRoot(), "bench", ".peers");
}

/** A module's URL inside the peers' node_modules, for a dynamic import. */
export function peerModule(...parts: string[]): string {
  return pathToFileURL(path.join(peersDir(), "node_modules", ...parts)).href;
}
