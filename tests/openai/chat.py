"""The official `openai` SDK against Chorus's `POST /v1/chat/completions`.

Env: CHORUS_URL (the API), CHORUS_KEY (a key). Prints one JSON line: a
completion on the local model (with a history turn), and what the SDK
raised for an unknown model; then the same
question streamed, with the usage chunk.
"""
import json
import os

import openai

client = openai.OpenAI(base_url=os.environ["CHORUS_URL"] + "/v1", api_key=os.environ["CHORUS_KEY"],
                       max_retries=0, timeout=300)
question = [
    {"role": "system", "content": "You are a geography quiz. Answer with the city's name only."},
    {"role": "user", "content": "What is the capital of Italy?"},
    {"role": "assistant", "content": "Rome"},
    {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]},
]
r = client.chat.completions.create(model="smollm2", messages=question, max_tokens=16, temperature=0)
out = {
    "id": r.id,
    "object": r.object,
    "model": r.model,
    "content": r.choices[0].message.content,
    "role": r.choices[0].message.role,
    "finish_reason": r.choices[0].finish_reason,
    "usage": r.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"}),
}


def refusal(**kwargs):
    try:
        client.chat.completions.create(messages=question, **kwargs)
    except openai.APIStatusError as e:
        return {"status": e.status_code, "code": e.code, "class": type(e).__name__}
    return None


out["unknown_model"] = refusal(model="no-such-model")

stream = client.chat.completions.create(model="smollm2", messages=question, max_tokens=17, temperature=0,
                                        stream=True, stream_options={"include_usage": True})
parts, finish, usage, chunks = [], None, None, 0
for c in stream:
    chunks += 1
    if c.choices:
        parts.append(c.choices[0].delta.content or "")
        finish = c.choices[0].finish_reason or finish
    if c.usage:
        usage = c.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})
out["streamed"] = {"content": "".join(parts), "finish_reason": finish, "usage": usage, "chunks": chunks}
print(json.dumps(out))
