/**
 * The Node.js flags the CLI runs with (the `#!/usr/bin/env -S node …` line of main.ts says the
 * same; scripts that start the CLI as a child pass these, so they measure what users run).
 *
 * --v8-pool-size=1: V8's background pool (JIT compiling, concurrent GC) defaults to 4 threads.
 * The cores belong to the engine's kernel threads, and each pool thread keeps its own malloc
 * arena: GPT-2-124M in q8 on 2 threads peaked at 236.8–238.8 MiB with the default pool and
 * 233.9–234.0 with one thread (3 runs each), at the same speed.
 */
export const CLI_NODE_FLAGS: readonly string[] = ["--v8-pool-size=1"];
