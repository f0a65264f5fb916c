import { test } from "node:test";
import assert from "node:assert/strict";
import { SseParser, readEvents, type SseEvent } from "./sse.ts";

test("events split across chunks at any point come out whole", () => {
  const text = 'id: 1.1.4\nevent: log\ndata: {"text":"a"}\n\n: keep-alive\n\nevent: end\ndata: {}\n\n';
  for (let cut = 0; cut <= text.length; cut++) {
    const parser = new SseParser();
    const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
    assert.deepEqual(events, [
      { event: "log", data: '{"text":"a"}', id: "1.1.4" },
      { event: "end", data: "{}", id: "1.1.4" },
    ], `cut at ${cut}`);
  }
});

test("data lines join, CRLF and CR end lines, unnamed events are messages", () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push("data: one\r\ndata:two\r\rdata: [DONE]\r"), [
    { event: "message", data: "one\ntwo" },
  ]);
  assert.deepEqual(parser.push("\n\n"), [{ event: "message", data: "[DONE]" }]);
});

test("a comment or an event with no data sends nothing", () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push(": hi\n\nevent: x\n\n"), []);
});

test("a body is read to its end, a last event without its blank line included", async () => {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const bytes = encoder.encode('event: delta\ndata: {"text":"é"}\n\nevent: done\ndata: {}');
      const split = bytes.indexOf(0xc3) + 1; // inside the two bytes of é
      controller.enqueue(bytes.slice(0, split));
      controller.enqueue(bytes.slice(split));
      controller.close();
    },
  });
  const seen: SseEvent[] = [];
  await readEvents(body, (event) => seen.push(event));
  assert.deepEqual(seen, [
    { event: "delta", data: '{"text":"é"}' },
    { event: "done", data: "{}" },
  ]);
});
