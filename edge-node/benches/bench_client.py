"""Short completions, one persistent HTTP connection, timed one by one. Run both inside a
job's sandbox (through the pod's proxy) and on the host (straight to the model server) by
edge-node/benches/inference.rs, so both sides use the same client.
usage: bench_client.py BASE_URL COUNT MODEL -> prints a JSON list of milliseconds"""
import http.client, json, sys, time, urllib.parse

base, count, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60)
body = json.dumps({"model": model, "max_tokens": 1, "temperature": 0,
                   "messages": [{"role": "user", "content": "Hi"}]})
samples = []
for i in range(count + 1):
    started = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    if i:  # the first is a warm-up
        samples.append((time.perf_counter() - started) * 1000)
print(json.dumps(samples))
