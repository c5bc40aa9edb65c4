// Compiled (never run) by types.test.mjs with `tsc --noEmit --strict`: the conversational API
// (`chat` action, AgentRequest / AgentResult) as a TypeScript user writes it.
import lmos, {
  agent,
  chat,
  agentRequest,
  agentResult,
  firstText,
  agentRequestSchema,
  agentResultSchema,
  consume,
  Servient,
  InvalidInput,
  type AgentRequest,
  type AgentResult,
  type ChatHandler,
  type ChatMessage,
  type DataSchema,
} from "lmos";

async function serveAndAsk(): Promise<string> {
  const servient = new Servient({ httpPort: 0 });
  const exposed = servient.expose(agent("Chat").chatAction().chatAction({ description: "Ask me." }));
  const answer: ChatHandler = async (request, ctx) => {
    const question = request.messages.filter((m: ChatMessage) => m.role === "user").at(-1)?.content;
    if (question === undefined) throw new InvalidInput("no user message");
    void ctx.signal.aborted;
    return request.conversationContext?.conversationId ? `re: ${question}` : agentResult(question);
  };
  exposed.onChat(answer).onChat((request: AgentRequest) => ({ status: "success", messages: request.messages }));
  await servient.start();
  const url = exposed.tdUrl ?? "";
  const text: string = await chat(url, "Sunny?", { timeoutMs: 1000 });
  const thing = await consume(url);
  const request: AgentRequest = agentRequest("Rain?");
  request.userContext = { userId: "u1", profile: [{ key: "name", value: "Max" }] };
  const result: AgentResult = await thing.chat(request);
  const again: AgentResult = await thing.chat("Snow?");
  const first: string | null = firstText(result);
  const asked: string = await thing.ask("Wind?");
  const schemas: DataSchema[] = [agentRequestSchema(), agentResultSchema(), lmos.agentRequestSchema()];
  void [again.status, again.responseTime, first, asked, schemas, await lmos.chat(url, "x")];
  await servient.close();
  return text;
}

void serveAndAsk;
