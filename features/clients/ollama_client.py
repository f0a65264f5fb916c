"""The official `ollama` Python client, unchanged, against CyNode's gateway as if it were
one big Ollama: run by the edge features (features/edge/chat.feature) with OLLAMA_HOST
(the gateway) and OPENAI_API_KEY (a personal API key, sent as a bearer token, as Open
WebUI and the Ollama libraries can). Lists models, chats and generates with and without
streaming, asks for JSON by schema, embeds, shows a model, and is refused the admin
routes. Asserts shapes,
never a small model's wording. One line per check; exits non-zero on the first
failure."""

import json
import os
import sys

import httpx
import ollama

from checks import check

MODEL = sys.argv[1] if len(sys.argv) > 1 else "smollm2:135m"
KEY = os.environ["OPENAI_API_KEY"]
HOST = os.environ["OLLAMA_HOST"]
client = ollama.Client(host=HOST, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)

names = [m.model for m in client.list().models]
check("tags list the agent and the node's model", "cynodeai.pm" in names and MODEL in names, names)
version = httpx.get(f"{HOST}/api/version", headers={"Authorization": f"Bearer {KEY}"}).json()
check("version answers", isinstance(version.get("version"), str), version)

ASK = [{"role": "user", "content": "Say hello."}]
reply = client.chat(model=MODEL, messages=ASK, options={"num_predict": 16})
check("chat: a message from the assistant, done", reply.done and reply.message.role == "assistant"
      and reply.message.content.strip() != "", reply)
check("chat: token counts", reply.prompt_eval_count > 0 and reply.eval_count > 0, reply)

parts = list(client.chat(model=MODEL, stream=True, options={"temperature": 0, "seed": 7, "num_predict": 64},
                         messages=[{"role": "user", "content": "Count from one to twenty in words."}]))
check("stream: several lines, only the last done", len(parts) >= 2 and parts[-1].done
      and not any(p.done for p in parts[:-1]), [p.done for p in parts])
text = "".join(p.message.content for p in parts)
check("stream: the lines add up to text", text.strip() != "", text)
check("stream: the last line counts the tokens", parts[-1].eval_count > 0 and parts[-1].done_reason in ("stop", "length"), parts[-1])

schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}
shaped = client.chat(model=MODEL, format=schema, options={"num_predict": 200},
                     messages=[{"role": "user", "content": "Invent a person."}])
if shaped.done_reason == "length":
    check("format: an answer cut at the limit says so and starts an object", shaped.message.content.lstrip().startswith("{"), shaped)
else:
    person = json.loads(shaped.message.content)
    check("format: the answer follows the schema", set(person) >= {"name", "age"} and isinstance(person["age"], int), person)

made = client.generate(model=MODEL, prompt="Why is the sky blue?", system="Answer in one sentence.",
                       options={"num_predict": 24})
check("generate: a response, done, with token counts", made.done and made.response.strip() != ""
      and made.eval_count > 0, made)
lines = list(client.generate(model=MODEL, prompt="Count from one to twenty in words.", stream=True,
                             options={"temperature": 0, "seed": 7, "num_predict": 64}))
check("generate stream: several lines, only the last done", len(lines) >= 2 and lines[-1].done
      and not any(p.done for p in lines[:-1]), [p.done for p in lines])
check("generate stream: the lines add up to text", "".join(p.response for p in lines).strip() != "", lines[-1])
raw = client.generate(model=MODEL, prompt="1, 2, 3, 4,", raw=True, options={"num_predict": 6, "temperature": 0})
check("generate raw: the prompt continued, within num_predict", raw.response != "" and 0 < raw.eval_count <= 6, raw)
loaded = client.generate(model=MODEL, prompt="")
check("generate without a prompt loads the model", loaded.done and loaded.done_reason == "load", loaded)

embedded = client.embed(model=MODEL, input=["The cat sat.", "The cat sat.", "Markets fell."])
vectors = embedded.embeddings
check("embed: one vector per input, of one size", len(vectors) == 3 and len({len(v) for v in vectors}) == 1
      and len(vectors[0]) > 0, [len(v) for v in vectors])
def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5


check("embed: the same text, the same vector", cosine(vectors[0], vectors[1]) > 0.9999
      and cosine(vectors[0], vectors[2]) < 0.9999, vectors[0][:4])
check("embed: prompt tokens counted", embedded.prompt_eval_count > 0, embedded)
old = client.embeddings(model=MODEL, prompt="The cat sat.")
check("embeddings (the older route): the same vector", cosine(list(old.embedding), vectors[0]) > 0.9999,
      list(old.embedding)[:4])

shown = client.show(MODEL)
check("show: the model's capabilities", "completion" in (shown.capabilities or []), shown)
try:
    client.show("no-such-model")
    check("show: an unknown model is refused", False, "it was shown")
except ollama.ResponseError as err:
    check("show: an unknown model is a 404 with Ollama's error", err.status_code == 404 and "not found" in err.error, err)

for name, call in [("pull", lambda: client.pull("some-model")), ("delete", lambda: client.delete("cynodeai.pm"))]:
    try:
        call()
        check(f"{name} is refused", False, "it was accepted")
    except ollama.ResponseError as err:
        check(f"{name} is refused with 403", err.status_code == 403, err)

print("all checks passed")
