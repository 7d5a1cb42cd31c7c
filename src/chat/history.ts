import { UserError } from "../errors.js";
import type { ChatPrompt } from "./prompt.js";
import type { ChatMessage } from "./template.js";

/**
 * A conversation kept within the context: an optional system message that always stays, then
 * exchanges (a user message and the reply to it). When the prompt would not leave room for a reply,
 * the oldest exchanges are dropped whole, so the user/assistant alternation templates expect holds.
 */
export class Conversation {
  private exchanges: ChatMessage[][] = [];

  constructor(readonly system: string | null) {}

  /** The messages as the template sees them, without the `skip` oldest exchanges. */
  messages(skip = 0): ChatMessage[] {
    const head: ChatMessage[] = this.system === null ? [] : [{ role: "system", content: this.system }];
    return head.concat(...this.exchanges.slice(skip));
  }

  get length(): number {
    return this.exchanges.length;
  }

  /**
   * The prompt for a reply to `user`, with as many of the latest exchanges as fit in
   * `maxPromptTokens`. The user message joins the history only once a prompt fits; `dropped` says
   * how many old exchanges made room for it. Throws a UserError if even the system message and
   * `user` alone are too long.
   */
  ask(user: string, maxPromptTokens: number, build: (messages: readonly ChatMessage[]) => ChatPrompt): { prompt: ChatPrompt; dropped: number } {
    const turn: ChatMessage = { role: "user", content: user };
    for (let skip = 0; ; skip++) {
      const prompt = build([...this.messages(skip), turn]);
      if (prompt.ids.length <= maxPromptTokens) {
        this.exchanges = [...this.exchanges.slice(skip), [turn]];
        return { prompt, dropped: skip };
      }
      if (skip === this.exchanges.length) {
        const what = this.system === null ? "the message" : "the system message and the message";
        throw new UserError(`${what} take ${prompt.ids.length} tokens, more than the ${maxPromptTokens} the context leaves for a prompt: not sent`);
      }
    }
  }

  /** Records the reply to the last user message (what was shown, also when it was cut short). */
  reply(content: string): void {
    const last = this.exchanges.at(-1);
    if (last === undefined || last.length !== 1) throw new Error("Conversation.reply: no user message awaits a reply");
    last.push({ role: "assistant", content });
  }

  /** Forgets every exchange; the system message stays. */
  reset(): void {
    this.exchanges = [];
  }
}
