"""The official OpenAI Python client against CyNode's gateway, unchanged: run by the edge
features (features/edge/chat.feature) with OPENAI_BASE_URL and OPENAI_API_KEY set to the
gateway's /v1 and a personal API key of the user's. Asserts structure and plumbing, never
wording. Prints one line per check; exits non-zero on the first failure."""

import time

import openai

from checks import MODEL, check, client


ids = [m.id for m in client.models.list().data]
check("models lists the agent and the node's model", "cynodeai.pm" in ids and MODEL in ids, ids)

reply = client.chat.completions.create(
    model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "Say hi."}]
)
check("a completion has an answer", bool(reply.choices[0].message.content.strip()), reply)
check("a completion counts its tokens", reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0, reply.usage)

started = time.monotonic()
arrivals, text, usage = [], "", None
stream = client.chat.completions.create(
    model=MODEL,
    # Long enough that streaming and buffering differ in time, however fast the model:
    # greedy decoding makes the 135M test model fill all 200 tokens with this prompt
    # (sampled, it sometimes stops after a few, too quickly to tell the two apart).
    max_tokens=200,
    temperature=0,
    seed=7,
    stream=True,
    stream_options={"include_usage": True},
    messages=[{"role": "user", "content": "Count from one to one hundred in words, separated by commas."}],
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        arrivals.append(time.monotonic() - started)
        text += chunk.choices[0].delta.content
    if chunk.usage:
        usage = chunk.usage
ended = time.monotonic() - started
check("a stream brings text", bool(text.strip()), text)
check("a stream comes in several chunks", len(arrivals) >= 2, arrivals)
check(
    "chunks arrive before the completion ends",
    arrivals[0] < ended - 0.05 and arrivals[-1] - arrivals[0] > 0.05,
    f"first {arrivals[0]:.3f}s, last {arrivals[-1]:.3f}s, end {ended:.3f}s",
)
check("a stream reports usage when asked", usage is not None and usage.completion_tokens > 0, usage)
print(f"stream: {len(arrivals)} chunks, first after {arrivals[0]:.3f}s, done after {ended:.3f}s")

agent = client.chat.completions.create(
    model="cynodeai.pm", messages=[{"role": "user", "content": "What is 2+2?"}]
)
check("the agent answers", bool(agent.choices[0].message.content.strip()), agent)

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    check("an unknown model is refused", False, "it was answered")
except openai.NotFoundError as err:
    check("an unknown model is refused with 404", err.status_code == 404, err)
    body = err.body if isinstance(err.body, dict) else {}
    check("the error has OpenAI's shape", "message" in body and "type" in body, err.body)

print("openai client: all checks passed")
