"""The official `openai` SDK against Chorus's Files and Batch APIs.

Env: CHORUS_URL (the API), CHORUS_KEY (a key). Prints one JSON line:
- a chat batch of 20 questions and one line naming an unknown model,
  polled to its end, its output and error files read back;
- an embeddings batch of two lines;
- a batch cancelled once in progress, polled to its end;
- the batches listed a page of one at a time, and the input file deleted.
"""
import json
import os
import time

import openai

client = openai.OpenAI(base_url=os.environ["CHORUS_URL"] + "/v1", api_key=os.environ["CHORUS_KEY"],
                       max_retries=0, timeout=60)
ENDED = ("completed", "failed", "cancelled", "expired")


def chat_line(custom_id, question, model="smollm2"):
    body = {"model": model, "max_tokens": 16, "temperature": 0,
            "messages": [{"role": "system", "content": "You are a calculator. Answer with a number."},
                         {"role": "user", "content": question}]}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def upload(lines, name):
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return client.files.create(file=(name, data), purpose="batch")


def run(file, endpoint, cancel=False):
    batch = client.batches.create(input_file_id=file.id, endpoint=endpoint, completion_window="24h",
                                  metadata={"suite": "sdk"})
    statuses = [batch.status]
    if cancel:
        # In flight: its lines are jobs, some running.
        while batch.status == "validating":
            time.sleep(0.1)
            batch = client.batches.retrieve(batch.id)
        statuses.append(batch.status)
        batch = client.batches.cancel(batch.id)
        statuses.append(batch.status)
    deadline = time.time() + 600
    while batch.status not in ENDED and time.time() < deadline:
        time.sleep(0.5)
        batch = client.batches.retrieve(batch.id)
        if statuses[-1] != batch.status:
            statuses.append(batch.status)
    return batch, statuses


def lines_of(file_id):
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines() if line.strip()]


questions = [chat_line(f"q-{i}", f"What is {i} plus 1? Answer with the number only.") for i in range(20)]
questions.insert(7, chat_line("bad-model", "Hello?", model="no-such-model"))
file = upload(questions, "questions.jsonl")
retrieved = client.files.retrieve(file.id)
batch, statuses = run(file, "/v1/chat/completions")
output, errors = lines_of(batch.output_file_id), lines_of(batch.error_file_id)
output_meta = client.files.retrieve(batch.output_file_id) if batch.output_file_id else None

embed_file = upload([{"custom_id": f"e-{i}", "method": "POST", "url": "/v1/embeddings",
                      "body": {"input": [f"text {i}", "another"]}} for i in range(2)], "texts.jsonl")
embedded, _ = run(embed_file, "/v1/embeddings")
embed_out = lines_of(embedded.output_file_id)

cancel_file = upload([chat_line(f"c-{i}", f"Count to {i}.") for i in range(30)], "cancel.jsonl")
cancelled, cancel_statuses = run(cancel_file, "/v1/chat/completions", cancel=True)
cancelled_lines = lines_of(cancelled.output_file_id) + lines_of(cancelled.error_file_id)

page = client.batches.list(limit=1)
listed = [b.id for b in client.batches.list(limit=1)]  # the SDK follows `after` page by page
deleted = client.files.delete(file.id)
try:
    client.files.retrieve(file.id)
    gone = None
except openai.NotFoundError as e:
    gone = {"status": e.status_code, "code": e.code}

print(json.dumps({
    "file": {"id": file.id, "object": retrieved.object, "purpose": retrieved.purpose, "bytes": retrieved.bytes,
             "filename": retrieved.filename},
    "batch": {"id": batch.id, "status": batch.status, "statuses": statuses,
              "counts": batch.request_counts.model_dump(), "metadata": batch.metadata},
    "output": [{"custom_id": o["custom_id"], "status_code": o["response"]["status_code"],
                "object": o["response"]["body"]["object"],
                "content": o["response"]["body"]["choices"][0]["message"]["content"],
                "error": o["error"]} for o in output],
    "errors": [{"custom_id": e["custom_id"], "response": e["response"], "code": e["error"]["code"]} for e in errors],
    "output_file": output_meta.model_dump(include={"purpose", "bytes"}) if output_meta else None,
    "embedded": {"status": embedded.status, "counts": embedded.request_counts.model_dump(),
                 "dims": [len(o["response"]["body"]["data"][0]["embedding"]) for o in embed_out],
                 "custom_ids": sorted(o["custom_id"] for o in embed_out)},
    "cancelled": {"status": cancelled.status, "statuses": cancel_statuses,
                  "counts": cancelled.request_counts.model_dump(),
                  "custom_ids": sorted(line["custom_id"] for line in cancelled_lines)},
    "page": {"ids": [b.id for b in page.data], "has_more": page.has_more},
    "listed": listed,
    "deleted": deleted.deleted,
    "gone": gone,
}))
