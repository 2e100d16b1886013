// Drives POST /agui with the official AG-UI client (@ag-ui/client's HttpAgent), as a frontend would.
//
// Usage: node run.mjs '<plan JSON>'
//   plan: {"url": "http://127.0.0.1:PORT/agui", "headers": {...}, "threadId": "...",
//          "steps": [{"say": "a user message"} | {"decide": "approve" | "reject" | "cancel"}]}
// Prints one JSON object: {"threadId", "runs": [{"events", "error", "result", "pendingInterrupts"}], "messages"}.
// Every event is checked by the client's own verifier before a subscriber sees it, so a stream that
// breaks the protocol shows up as a run "error".
import { HttpAgent, buildResumeArray } from "@ag-ui/client";

const plan = JSON.parse(process.argv[2]);
const agent = new HttpAgent({ url: plan.url, headers: plan.headers ?? {}, threadId: plan.threadId });
const runs = [];
let counter = 0;

for (const step of plan.steps) {
  const events = [];
  const record = { events, error: null, result: null, pendingInterrupts: [] };
  const subscriber = { onEvent: ({ event }) => { events.push(event); } };
  let parameters = {};
  if (step.say !== undefined) {
    agent.addMessage({ id: `user-${++counter}`, role: "user", content: step.say });
  } else {
    const responses = {};
    for (const interrupt of agent.pendingInterrupts) {
      responses[interrupt.id] = step.decide === "cancel"
        ? { status: "cancelled" }
        : { status: "resolved", payload: { approved: step.decide === "approve" } };
    }
    parameters = { resume: buildResumeArray(agent.pendingInterrupts, responses) };
  }
  try {
    const { result } = await agent.runAgent(parameters, subscriber);
    record.result = result ?? null;
  } catch (error) {
    record.error = String(error?.message ?? error);
  }
  record.pendingInterrupts = agent.pendingInterrupts;
  runs.push(record);
}

process.stdout.write(JSON.stringify({ threadId: agent.threadId, runs, messages: agent.messages }));
