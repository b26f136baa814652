"""The official `openai` SDK against Chorus's `GET /v1/models`.

Env: CHORUS_URL (the API), CHORUS_KEY (a key). Prints one JSON line: the
listed ids, and what the SDK raised for an unknown key and for a request
over the rate limit (status, OpenAI error type, our code).
"""
import json
import os

import openai

base = os.environ["CHORUS_URL"] + "/v1"
client = openai.OpenAI(base_url=base, api_key=os.environ["CHORUS_KEY"], max_retries=0)
ids = [m.id for m in client.models.list()]


def refusal(key, calls):
    c = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
    try:
        for _ in range(calls):
            c.models.list()
    except openai.APIStatusError as e:
        return {"status": e.status_code, "type": e.body.get("type"), "code": e.code, "class": type(e).__name__}
    return None


print(json.dumps({
    "ids": ids,
    "unknown_key": refusal("chorus_00000000_" + "0" * 32, 1),
    "over_limit": refusal(os.environ["CHORUS_KEY"], 200),
}))
