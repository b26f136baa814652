"""The official `openai` SDK calling its own tools through Chorus.

Env: CHORUS_URL, CHORUS_KEY, CHORUS_MODEL (an alias whose provider calls
`get_weather`, then answers from its result). Prints one JSON line: the
tool call the model asked for (whole, and streamed), and the answer once
the SDK sent the tool's result back.
"""
import json
import os

import openai

client = openai.OpenAI(base_url=os.environ["CHORUS_URL"] + "/v1", api_key=os.environ["CHORUS_KEY"],
                       max_retries=0, timeout=120)
model = os.environ["CHORUS_MODEL"]
tools = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
question = [{"role": "user", "content": "What is the weather in Paris?"}]
choice = {"type": "function", "function": {"name": "get_weather"}}

first = client.chat.completions.create(model=model, messages=question, tools=tools, tool_choice=choice)
call = first.choices[0].message.tool_calls[0]
answer = client.chat.completions.create(model=model, tools=tools, messages=question + [
    {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
    {"role": "tool", "tool_call_id": call.id, "content": "18°C and sunny"},
])

streamed_calls, finish = [], None
for chunk in client.chat.completions.create(model=model, messages=question, tools=tools, tool_choice="required",
                                            stream=True, max_tokens=64):
    for c in chunk.choices:
        streamed_calls += [tc.function.name for tc in (c.delta.tool_calls or [])]
        finish = c.finish_reason or finish

try:
    client.chat.completions.create(model=model, messages=question, tools=tools,
                                   tool_choice={"type": "function", "function": {"name": "nope"}})
    bad_choice = None
except openai.BadRequestError as e:
    bad_choice = {"status": e.status_code, "code": e.code}

print(json.dumps({
    "finish_reason": first.choices[0].finish_reason,
    "content": first.choices[0].message.content,
    "call": {"id": call.id, "type": call.type, "name": call.function.name,
             "arguments": json.loads(call.function.arguments)},
    "answer": answer.choices[0].message.content,
    "answer_finish": answer.choices[0].finish_reason,
    "streamed": {"calls": streamed_calls, "finish_reason": finish},
    "bad_choice": bad_choice,
}))
