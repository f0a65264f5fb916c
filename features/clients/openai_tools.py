"""Tool calls, structured output and the sampling fields through the official OpenAI Python
client, unchanged, against CyNode's gateway and a node's real model: run by the edge
features (features/edge/chat.feature) with OPENAI_BASE_URL and OPENAI_API_KEY set.
Asserts shapes and plumbing (a call's name, its arguments parse and follow the schema,
JSON answers parse), never wording. One line per check; exits non-zero on the first
failure."""

import json

import openai

from checks import MODEL, check, client


def json_answer(name, choice):
    """The parsed JSON of an answer that ended by itself. A grammar keeps every token valid
    JSON, but a small model may still run into the token limit mid-object: that answer
    must say so (finish_reason "length") and be the start of an object."""
    text = choice.message.content or ""
    if choice.finish_reason == "length":
        check(f"{name}: an answer cut at the limit says so and starts an object", text.lstrip().startswith("{"), text)
        return None
    check(f"{name}: the answer ended by itself", choice.finish_reason == "stop", choice)
    return json.loads(text)


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather now in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "description": "The time now"}}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]

# tool_choice "required": the answer is a call, whatever the model would rather say.
reply = client.chat.completions.create(
    model=MODEL, max_tokens=100, messages=ASK, tools=[WEATHER], tool_choice="required"
)
choice = reply.choices[0]
check("required: the answer ends in tool_calls", choice.finish_reason == "tool_calls", choice)
calls = choice.message.tool_calls or []
check("required: one call or more, of the tool offered", calls and calls[0].function.name == "get_weather", choice.message)
arguments = json.loads(calls[0].function.arguments)
check("required: the arguments follow the tool's schema", isinstance(arguments.get("city"), str) and set(arguments) == {"city"}, arguments)
check("a call has an id and the function type", calls[0].id.startswith("call_") and calls[0].type == "function", calls[0])

# A named function among several: that one is called.
named = client.chat.completions.create(
    model=MODEL, max_tokens=60, messages=ASK, tools=[WEATHER, TIME],
    tool_choice={"type": "function", "function": {"name": "get_time"}}, parallel_tool_calls=False,
)
named_calls = named.choices[0].message.tool_calls or []
check("a named function is the one called, once", [c.function.name for c in named_calls] == ["get_time"], named.choices[0].message)
check("a function without parameters gets {}", json.loads(named_calls[0].function.arguments) == {}, named_calls[0])

# The conversation goes on with the tool's result; tool_choice "none" asks for words.
followed = client.chat.completions.create(
    model=MODEL, max_tokens=40, tools=[WEATHER], tool_choice="none",
    messages=ASK + [
        {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in calls[:1]]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "18 degrees and sunny"},
    ],
)
check("after a tool result the model answers in words", followed.choices[0].finish_reason in ("stop", "length") and bool(followed.choices[0].message.content) and not followed.choices[0].message.tool_calls, followed.choices[0])

# Streamed: deltas with index, id, name, then pieces of arguments that join into JSON.
stream = client.chat.completions.create(
    model=MODEL, max_tokens=100, messages=ASK, tools=[WEATHER], tool_choice="required", stream=True
)
joined, finish = {}, None
for chunk in stream:
    if not chunk.choices:
        continue
    for delta in chunk.choices[0].delta.tool_calls or []:
        entry = joined.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
        entry["id"] = delta.id or entry["id"]
        if delta.function and delta.function.name:
            entry["name"] = delta.function.name
        if delta.function and delta.function.arguments:
            entry["arguments"] += delta.function.arguments
    finish = chunk.choices[0].finish_reason or finish
check("a stream ends in tool_calls", finish == "tool_calls", finish)
check("streamed calls carry id and name", joined and joined[0]["id"] and joined[0]["name"] == "get_weather", joined)
check("streamed arguments join into the schema's JSON", isinstance(json.loads(joined[0]["arguments"]).get("city"), str), joined)

# Structured output: a JSON schema, and JSON mode.
person = client.chat.completions.create(
    model=MODEL, max_tokens=200,
    messages=[{"role": "user", "content": "Invent a person: name and age."}],
    response_format={"type": "json_schema", "json_schema": {"name": "person", "strict": True, "schema": {
        "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"], "additionalProperties": False}}},
)
parsed = json_answer("json_schema", person.choices[0])
if parsed is not None:
    check("json_schema: the answer follows the schema", isinstance(parsed.get("name"), str) and isinstance(parsed.get("age"), int), parsed)
loose = client.chat.completions.create(
    model=MODEL, max_tokens=200, response_format={"type": "json_object"},
    messages=[{"role": "user", "content": "Give a JSON object with a colour."}],
)
parsed = json_answer("json_object", loose.choices[0])
if parsed is not None:
    check("json_object: the answer is a JSON object", isinstance(parsed, dict), parsed)

# Sampling fields reach the model: a seed repeats an answer, max_tokens cuts it, logprobs come back.
seeded = [
    client.chat.completions.create(model=MODEL, max_tokens=12, seed=42, temperature=1.0, top_p=0.9,
                                   stop=["\n\n"], presence_penalty=0.1, frequency_penalty=0.1,
                                   user="feature", messages=[{"role": "user", "content": "Name a fruit."}]).choices[0].message.content
    for _ in range(2)
]
check("the same seed gives the same answer", seeded[0] == seeded[1], seeded)
cut = client.chat.completions.create(model=MODEL, max_tokens=1, messages=[{"role": "user", "content": "Count to ten."}])
check("an answer cut by max_tokens ends in length", cut.choices[0].finish_reason == "length", cut.choices[0])
probed = client.chat.completions.create(model=MODEL, max_tokens=4, logprobs=True, top_logprobs=2, messages=ASK)
tokens = probed.choices[0].logprobs.content if probed.choices[0].logprobs else []
check("logprobs come back per token", len(tokens) >= 1 and tokens[0].logprob <= 0 and len(tokens[0].top_logprobs) == 2, probed.choices[0].logprobs)


def refused(name, param, **kwargs):
    try:
        client.chat.completions.create(model=kwargs.pop("model", MODEL), messages=ASK, **kwargs)
        check(name, False, "it was answered")
    except openai.BadRequestError as err:
        body = err.body if isinstance(err.body, dict) else {}
        check(name, err.status_code == 400 and body.get("param") == param and body.get("type") == "invalid_request_error", err.body)


refused("n other than 1 is refused by name", "n", n=2)
refused("a field no node can honour is refused by name", "logit_bias", logit_bias={"1": 5})
refused("tools for the agent are refused", "tools", model="cynodeai.pm", tools=[WEATHER])
refused("a tool_choice naming no tool is refused", "tool_choice", tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}})

print("openai tools: all checks passed")
