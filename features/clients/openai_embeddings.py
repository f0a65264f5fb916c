"""Embeddings and legacy text completions through the official OpenAI Python client,
unchanged, against CyNode's gateway and a node's real model: run by the edge features
(features/edge/chat.feature) with OPENAI_BASE_URL and OPENAI_API_KEY set. Asserts shapes
and what must hold for any model (the same text gives the same vector, base64 and float
give the same numbers), never wording. One line per check; exits non-zero on the first
failure."""

import base64
import math
import struct

import openai

from checks import MODEL, check, client


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


# The client asks for base64 unless told otherwise, and decodes it itself.
TEXTS = ["The cat sat on the mat.", "The cat sat on the mat.", "Stock markets fell sharply today."]
listed = client.embeddings.create(model=MODEL, input=TEXTS)
vectors = [item.embedding for item in listed.data]
check("embeddings: one vector per input, in order", [item.index for item in listed.data] == [0, 1, 2], listed.data)
check("embeddings: vectors of one size, of numbers", len({len(v) for v in vectors}) == 1 and len(vectors[0]) > 0
      and all(isinstance(x, float) for x in vectors[0]), [len(v) for v in vectors])
check("embeddings: the same text, the same vector", cosine(vectors[0], vectors[1]) > 0.9999, cosine(vectors[0], vectors[1]))
check("embeddings: another text, another vector", cosine(vectors[0], vectors[2]) < 0.9999, cosine(vectors[0], vectors[2]))
check("embeddings: the model and prompt tokens", listed.model == MODEL and listed.usage.prompt_tokens > 0, listed)

def as_f32(numbers):
    return [struct.unpack("<f", struct.pack("<f", x))[0] for x in numbers]


floats = client.embeddings.create(model=MODEL, input=TEXTS, encoding_format="float")
check("embeddings: float output is the same f32s", as_f32(floats.data[0].embedding) == vectors[0],
      floats.data[0].embedding[:4])
raw = client.embeddings.with_raw_response.create(model=MODEL, input=TEXTS, encoding_format="base64").http_response.json()
packed = base64.b64decode(raw["data"][0]["embedding"])
check("embeddings: base64 holds little-endian f32s", list(struct.unpack(f"<{len(packed) // 4}f", packed)) == vectors[0],
      raw["data"][0]["embedding"][:16])

for name, call, param in [
    ("dimensions", lambda: client.embeddings.create(model=MODEL, input="x", dimensions=8), "dimensions"),
    ("an empty input", lambda: client.embeddings.create(model=MODEL, input=""), "input"),
    ("the agent", lambda: client.embeddings.create(model="cynodeai.pm", input="x"), "model"),
]:
    try:
        call()
        check(f"embeddings: {name} is refused", False, "it was accepted")
    except openai.BadRequestError as err:
        check(f"embeddings: {name} is a 400 naming {param}", err.body.get("param") == param, err.body)
try:
    client.embeddings.create(model="no-such-model", input="x")
    check("embeddings: an unknown model is refused", False, "it was accepted")
except openai.NotFoundError as err:
    check("embeddings: an unknown model is a 404", err.body.get("code") == "model_not_found", err.body)

# Legacy completions: the prompt continued as it is.
done = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=8, temperature=0)
choice = done.choices[0]
check("completions: a text_completion with text", done.object == "text_completion" and choice.text != "", done)
check("completions: it ends as the model says", choice.finish_reason in ("length", "stop"), choice)
check("completions: usage within max_tokens", 0 < done.usage.completion_tokens <= 8 and done.usage.prompt_tokens > 0,
      done.usage)
short = client.completions.create(model=MODEL, prompt="Once upon a time", temperature=0)
check("completions: OpenAI's default of 16 tokens", 0 < short.usage.completion_tokens <= 16, short.usage)
again = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=8, temperature=0)
check("completions: greedy decoding repeats itself", again.choices[0].text == choice.text, again.choices[0].text)

chunks = list(client.completions.create(model=MODEL, prompt="Count: one, two, three,", max_tokens=48,
                                        temperature=0, seed=7, stream=True,
                                        stream_options={"include_usage": True}))
texts = [c.choices[0].text for c in chunks if c.choices]
check("completions stream: text in several chunks", len([t for t in texts if t]) >= 2, texts)
ends = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
check("completions stream: one finish_reason, at the end", len(ends) == 1, ends)
check("completions stream: usage last", chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0,
      chunks[-1])

for name, kwargs, param in [
    ("echo", {"echo": True}, "echo"),
    ("n = 2", {"n": 2}, "n"),
    ("best_of = 2", {"best_of": 2}, "best_of"),
    ("suffix", {"suffix": "end"}, "suffix"),
    ("logprobs", {"logprobs": 2}, "logprobs"),
]:
    try:
        client.completions.create(model=MODEL, prompt="x", **kwargs)
        check(f"completions: {name} is refused", False, "it was accepted")
    except openai.BadRequestError as err:
        check(f"completions: {name} is a 400 naming {param}", err.body.get("param") == param, err.body)

print("all checks passed")
