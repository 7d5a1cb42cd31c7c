import { UserError } from "../errors.js";
import type { Tokenizer } from "../tokenizer/index.js";
import type { ChatMessage, ChatTemplate } from "./template.js";

/** A conversation turned into what the model reads next. */
export interface ChatPrompt {
  readonly text: string;
  readonly ids: number[];
  /** Stop strings the format implies (the fallback format's "\nUser:"). */
  readonly stop: string[];
}

/**
 * The one way a conversation becomes prompt ids, for the CLI and the server alike: the rendered
 * template is encoded as transformers' apply_chat_template(..., tokenize=True) does, without
 * adding special tokens, since the template writes BOS and the turn markers itself.
 */
export function chatPrompt(template: ChatTemplate, tokenizer: Tokenizer, messages: readonly ChatMessage[]): ChatPrompt {
  if (!tokenizer.hasText) throw new UserError("chat needs a model with a tokenizer: this one reads and writes token ids only");
  const { text, stop } = template.render(messages);
  return { text, ids: tokenizer.encode(text, { addSpecialTokens: false }), stop };
}
