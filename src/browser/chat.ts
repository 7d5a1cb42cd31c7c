import { Conversation } from "../chat/history.js";
import { chatPrompt } from "../chat/prompt.js";
import { ChatTemplate } from "../chat/template.js";
import { UserError } from "../errors.js";
import { resolveSamplingParams } from "../engine/sampling-params.js";
import type { ChatReply, ChatRequest } from "./protocol.js";
import type { Session } from "./session.js";

/**
 * The worker's conversation with its model: the same ChatTemplate, chatPrompt and Conversation
 * as the command line's chat and the server, over a Session. Successive turns share their
 * prompt's prefix, which the session's cache keeps.
 */
export class SessionChat {
  private conversation: Conversation | null = null;

  /** Throws a UserError when the model's chat template does not parse. */
  constructor(
    private readonly session: Session,
    private readonly template = new ChatTemplate(session.tokenizer),
  ) {}

  /** Whether the model has a template of its own (else messages are written "User: …"). */
  get hasTemplate(): boolean {
    return !this.template.usesFallback;
  }

  /**
   * Replies to `request.message`. The first exchange of a conversation fixes its system message;
   * old exchanges are dropped when the prompt would leave less than max_tokens of the context.
   */
  async reply(request: ChatRequest, onPiece: (text: string) => void, signal: AbortSignal): Promise<ChatReply> {
    const context = this.session.contextLength;
    if (request.maxTokens >= context) throw new UserError(`max tokens ${request.maxTokens} leaves no room for a prompt in the context of ${context} tokens`);
    if (request.message.trim() === "") throw new UserError("the message is empty");
    const system = request.system === "" ? null : request.system;
    if (this.conversation === null || this.conversation.length === 0) this.conversation = new Conversation(system);
    else if (this.conversation.system !== system) throw new UserError("the system message cannot change during a conversation: reset it first");
    // Bad sampling values fail before the message joins the history.
    const sampling = resolveSamplingParams({ maxTokens: request.maxTokens, temperature: request.temperature, seed: request.seed });
    const conversation = this.conversation;
    const { prompt, dropped } = conversation.ask(request.message, context - request.maxTokens, (messages) => chatPrompt(this.template, this.session.tokenizer, messages));
    const result = await this.session.generateIds(prompt.ids, { ...sampling, stop: prompt.stop }, onPiece, signal).catch((e: unknown) => {
      conversation.reply(""); // answered, so the next prompt still alternates user and assistant
      throw e;
    });
    // What was shown is what the history keeps, also when stopped.
    conversation.reply(result.text);
    return { ...result, promptIds: prompt.ids, dropped };
  }

  /** Forgets every exchange and the system message. */
  reset(): void {
    this.conversation = null;
  }
}
