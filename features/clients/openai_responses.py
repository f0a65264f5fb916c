"""The Responses API through the official OpenAI Python client, unchanged, against
CyNode's gateway and a node's real model: run by the edge features
(features/edge/chat.feature) with OPENAI_BASE_URL and OPENAI_API_KEY set. Plain text
(string input and items, instructions), streamed events in the documented order with
usage at the end, a function call and its round trip, JSON-schema output, and the
refusals of what needs stored state. Asserts shapes, never a small model's wording. One
line per check; exits non-zero on the first failure."""

import json

import openai

from checks import MODEL, check, client


# Plain text, not streamed.
reply = client.responses.create(
    model=MODEL, instructions="Answer in one short sentence.", input="Say hello.", max_output_tokens=24
)
check("a response object, completed or cut at the limit", reply.object == "response" and reply.status in ("completed", "incomplete"), reply)
check("its id names it", reply.id.startswith("resp_"), reply.id)
check("the output is one assistant message of output_text", [i.type for i in reply.output] == ["message"]
      and reply.output[0].content[0].type == "output_text", reply.output)
check("output_text holds the answer", isinstance(reply.output_text, str) and reply.output_text.strip() != "", reply)
check("usage counts input and output tokens", reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
      and reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens, reply.usage)
check("the length limit is kept", reply.usage.output_tokens <= 24, reply.usage)
check("a reply cut at the limit says so", reply.status == "completed" or reply.incomplete_details.reason == "max_output_tokens", reply)

# Input as items, with a text part.
items = client.responses.create(
    model=MODEL, max_output_tokens=16,
    input=[{"role": "user", "content": [{"type": "input_text", "text": "Name a colour."}]}],
)
check("items in, a message out", items.output_text.strip() != "", items)

# Streamed: the documented events, in order, numbered, ending with usage.
# (A small model may run to the token limit: the stream then ends with
# response.incomplete, as OpenAI's does, and the helper's get_final_response() refuses it;
# the last event carries the response either way.)
events = list(client.responses.create(model=MODEL, input="Count from 1 to 5.", max_output_tokens=64, stream=True))
kinds = [e.type for e in events]
final = events[-1].response
check("the stream opens with created then in_progress", kinds[:2] == ["response.created", "response.in_progress"], kinds[:4])
check("text arrives as output_text deltas", kinds.count("response.output_text.delta") >= 1, kinds)
order = ["response.output_item.added", "response.content_part.added", "response.output_text.done",
         "response.content_part.done", "response.output_item.done"]
check("the item events come in the documented order", [k for k in kinds if k in order] == order, kinds)
check("it ends with response.completed (or .incomplete at the limit)", kinds[-1] in ("response.completed", "response.incomplete")
      and final.status == kinds[-1].split(".")[1], kinds[-3:])
check("sequence numbers count up from 0", [e.sequence_number for e in events] == list(range(len(events))), kinds)
deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
check("the deltas add up to the final text", deltas == final.output_text and deltas.strip() != "", (deltas, final.output_text))
check("the completed response carries usage", final.usage is not None and final.usage.output_tokens > 0, final.usage)

# A function tool, required: a function_call item whose arguments follow the schema.
WEATHER = {
    "type": "function", "name": "get_weather", "description": "The weather now in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False},
    "strict": True,
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
called = client.responses.create(model=MODEL, input=ASK, tools=[WEATHER], tool_choice="required", max_output_tokens=100)
calls = [i for i in called.output if i.type == "function_call"]
check("required: a function_call item", len(calls) >= 1 and calls[0].name == "get_weather", called.output)
arguments = json.loads(calls[0].arguments)
check("its arguments follow the schema", set(arguments) == {"city"} and isinstance(arguments["city"], str), arguments)
check("it has a call id", bool(calls[0].call_id), calls[0])

# The round trip: the call and its output sent back as items.
answered = client.responses.create(
    model=MODEL, tools=[WEATHER], max_output_tokens=40,
    input=ASK + [
        {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather", "arguments": calls[0].arguments},
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": json.dumps({"sky": "sunny", "celsius": 21})},
    ],
    tool_choice="none",
)
check("after the tool's output, the model answers in text", answered.output_text.strip() != ""
      and not [i for i in answered.output if i.type == "function_call"], answered.output)

# Streamed function-call arguments.
events = list(client.responses.create(model=MODEL, input=ASK, tools=[WEATHER], tool_choice="required",
                                      max_output_tokens=100, stream=True))
kinds = [e.type for e in events]
done = [e for e in events if e.type == "response.function_call_arguments.done"]
pieces = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
check("streamed calls: argument deltas, then done", done and pieces == done[0].arguments, kinds)

# text.format with a JSON schema: the output parses and follows it.
schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}
shaped = client.responses.create(
    model=MODEL, input="Invent a person.", max_output_tokens=200,
    text={"format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}},
)
# A grammar keeps the output valid JSON; a small model may still reach the token limit
# mid-object, which the response must then say (status "incomplete").
if shaped.status == "incomplete":
    check("json_schema: an output cut at the limit says so", shaped.incomplete_details.reason == "max_output_tokens", shaped)
else:
    person = json.loads(shaped.output_text)
    check("json_schema: the output follows the schema", set(person) == {"name", "age"} and isinstance(person["age"], int), person)

# What needs stored state is refused, in OpenAI's error shape, naming the field.
for name, kwargs, param in [
    ("store", {"store": True}, "store"),
    ("previous_response_id", {"previous_response_id": "resp_x"}, "previous_response_id"),
    ("a hosted tool", {"tools": [{"type": "web_search"}]}, "tools"),
]:
    try:
        client.responses.create(model=MODEL, input="hi", **kwargs)
        check(f"{name} is refused", False, "it was accepted")
    except openai.BadRequestError as err:
        check(f"{name} is refused with a 400 naming it", err.status_code == 400 and err.body.get("param") == param, err.body)

print("all checks passed")
