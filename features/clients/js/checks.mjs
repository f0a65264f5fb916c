// The official OpenAI JavaScript client (npm `openai`), unchanged, against CyNode's
// gateway and a node's real model: run by the edge features (features/edge/chat.feature)
// with OPENAI_BASE_URL and OPENAI_API_KEY set (a personal API key). A streamed chat
// completion, and the Responses API (what the Vercel AI SDK and Codex call) with and
// without streaming. Asserts shapes, never a small model's wording. One line per check;
// exits non-zero on the first failure.

import OpenAI from "openai";

const model = process.argv[2] ?? "smollm2:135m";
const client = new OpenAI({ timeout: 120_000, maxRetries: 0 });

function check(name, condition, detail = "") {
  if (!condition) {
    console.log(`FAIL ${name}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}

// A streamed chat completion, with usage at the end.
const stream = await client.chat.completions.create({
  model,
  stream: true,
  stream_options: { include_usage: true },
  max_tokens: 24,
  messages: [{ role: "user", content: "Say hello." }],
});
let text = "";
let finish = null;
let usage = null;
for await (const chunk of stream) {
  for (const choice of chunk.choices) {
    text += choice.delta?.content ?? "";
    finish = choice.finish_reason ?? finish;
  }
  usage = chunk.usage ?? usage;
}
check("chat: the streamed text is not empty", text.trim() !== "", text);
check("chat: the stream ends with a finish reason", finish === "stop" || finish === "length", finish);
check("chat: usage comes last", usage && usage.completion_tokens > 0, usage);

// The Responses API, not streamed.
const reply = await client.responses.create({ model, input: "Say hello.", max_output_tokens: 24 });
check("responses: a response with output text", reply.object === "response" && reply.output_text.trim() !== "", reply);

// The Responses API, streamed: typed events ending with the whole response.
const events = [];
for await (const event of await client.responses.create({ model, input: "Name a fruit.", max_output_tokens: 24, stream: true })) {
  events.push(event);
}
const kinds = events.map((e) => e.type);
const deltas = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
const last = events.at(-1);
check("responses stream: opens with response.created", kinds[0] === "response.created", kinds);
check("responses stream: text deltas", deltas.trim() !== "", kinds);
check("responses stream: ends with the whole response", ["response.completed", "response.incomplete"].includes(last.type)
  && last.response.output[0].content[0].text === deltas, last);

console.log("all checks passed");
