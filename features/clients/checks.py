"""What the client scripts share: the model under test (the first argument), a client
configured from OPENAI_BASE_URL and OPENAI_API_KEY (no retries, so a failure shows), and
`check`, which prints one line per check and exits non-zero on the first failure."""

import sys

from openai import OpenAI

MODEL = sys.argv[1] if len(sys.argv) > 1 else "smollm2:135m"
client = OpenAI(timeout=120, max_retries=0)


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")
