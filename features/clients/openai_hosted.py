"""The official OpenAI Python client, unchanged, using a hosted model through CyNode's
egress: run by the gateway features (features/gateway/hosted_models.feature) with
OPENAI_BASE_URL and OPENAI_API_KEY set to the gateway's /v1 and a personal API key, and
the hosted model's id (`<provider>/<model>`) as the first argument. Asserts structure and
plumbing, never wording. Prints one line per check; exits non-zero on the first failure."""

import openai

from checks import MODEL, check, client

ids = [m.id for m in client.models.list().data]
check("models lists the hosted model", MODEL in ids, ids)

reply = client.chat.completions.create(
    model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "Say hi."}]
)
check("a completion has an answer", bool(reply.choices[0].message.content.strip()), reply)
check("a completion names the hosted model", reply.model == MODEL, reply.model)
check("a completion counts its tokens", reply.usage.completion_tokens > 0, reply.usage)

text, usage, models = "", None, set()
stream = client.chat.completions.create(
    model=MODEL,
    max_tokens=24,
    stream=True,
    stream_options={"include_usage": True},
    messages=[{"role": "user", "content": "Count to five."}],
)
for chunk in stream:
    models.add(chunk.model)
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
    if chunk.usage:
        usage = chunk.usage
check("a stream brings text", bool(text.strip()), text)
check("every chunk names the hosted model", models == {MODEL}, models)
check("a stream reports usage when asked", usage is not None and usage.completion_tokens > 0, usage)

provider = MODEL.split("/")[0]
try:
    client.chat.completions.create(
        model=f"{provider}/no-such-model", messages=[{"role": "user", "content": "x"}]
    )
    check("a model the provider does not offer is refused", False, "it was answered")
except openai.NotFoundError as err:
    check("a model the provider does not offer is refused", err.code == "model_not_found", err)

response = client.responses.create(model=MODEL, max_output_tokens=16, input="Say hi.")
check("a Responses answer has text", bool(response.output_text.strip()), response)
check("a Responses answer names the hosted model", response.model == MODEL, response.model)
check("a Responses answer counts its tokens", response.usage.output_tokens > 0, response.usage)

kinds, streamed = [], ""
for event in client.responses.create(
    model=MODEL, max_output_tokens=16, input="Count to three.", stream=True
):
    kinds.append(event.type)
    if event.type == "response.output_text.delta":
        streamed += event.delta
check(
    "a streamed Responses answer opens, carries text and completes",
    kinds[0] == "response.created" and kinds[-1] == "response.completed" and bool(streamed.strip()),
    kinds,
)
