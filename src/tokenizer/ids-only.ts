import { UserError } from "../errors.js";
import type { StreamDecoder, Tokenizer } from "./types.js";

const NOTHING = new Uint8Array(0);

/**
 * The stand-in for a checkpoint that ships no tokenizer (research checkpoints, test models):
 * prompts come as token ids, output is ids, and there is no text either way.
 */
export class IdsOnlyTokenizer implements Tokenizer {
  readonly bosToken = null;
  readonly eosToken = null;
  readonly chatTemplate = null;
  readonly hasText = false;

  constructor(
    readonly vocabSize: number,
    readonly bosTokenId: number | null,
    readonly eosTokenId: number | null,
    private readonly source: string,
  ) {}

  encode(): number[] {
    throw new UserError(`${this.source} has no tokenizer: give the prompt as token ids (--prompt-ids 1,2,3)`);
  }

  decode(): string {
    return "";
  }

  tokenBytes(): Uint8Array {
    return NOTHING;
  }

  createStreamDecoder(): StreamDecoder {
    return { push: () => "", flush: () => "" };
  }
}
