/**
 * `nanogpt-infer convert --to gguf` in a child process of its own: the conversion holds a whole
 * model in memory, and Linux hands a parent's peak RSS down to every child it spawns later,
 * which would inflate the benchmark's peak RSS column.
 *   node dist/bench/peers-runner/convert.js MODEL_DIR f32|q8_0 OUT.gguf
 */
import { convertCommand } from "../../src/cli/convert.js";
import { runChild } from "./child.js";

runChild("convert", async () => {
  const [model, dtype, out] = process.argv.slice(2);
  if (out === undefined || (dtype !== "f32" && dtype !== "q8_0")) throw new Error("usage: convert.js MODEL_DIR f32|q8_0 OUT.gguf");
  await convertCommand({ model, to: "gguf", dtype, out, quiet: true });
});
