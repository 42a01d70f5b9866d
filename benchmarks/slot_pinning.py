#!/usr/bin/env python3
"""Does pinning a llama.cpp slot (`id_slot`) save prompt evaluation beyond affinity?

One server; DIALOGUES dialogues, each with an asker and an assistant prompt (they differ),
grow for TURNS turns, their requests sent in turn as affinity sends them to one server.
Prints the prompt tokens the server evaluated (`timings.prompt_n`) with llama.cpp's own slot
choice and with `id_slot` pinned per (dialogue, role), and their ratio.

    eval "$(scripts/local-model start --ctx 4096 --parallel 4 --threads 1 --cache-ram 0)"
    benchmarks/slot_pinning.py "$LOCAL_MODEL_URL" 3 8
"""
import json
import random
import sys
import urllib.request

SLOTS = 4


def run(url, dialogues, turns, pin):
    rng = random.Random(7)
    words = "the a cat dog river stone light house window paper music tree ocean cloud bread chair".split()

    def text(n):
        return " ".join(rng.choice(words) for _ in range(n))

    history = {d: text(80) for d in range(dialogues)}
    evaluated = 0
    total = 0
    for _ in range(turns):
        for d in range(dialogues):
            for role, head in enumerate(("ASKER PROMPT\n", "ASSISTANT PROMPT\n")):
                body = {"prompt": head + history[d], "n_predict": 4, "cache_prompt": True, "temperature": 0}
                if pin:
                    body["id_slot"] = (d * 2 + role) % SLOTS
                request = urllib.request.Request(url + "/completion", data=json.dumps(body).encode(),
                                                 headers={"Content-Type": "application/json"})
                timings = json.load(urllib.request.urlopen(request, timeout=120))["timings"]
                evaluated += timings["prompt_n"]
                total += timings["prompt_n"] + timings.get("cache_n", 0)
            history[d] += "\n" + text(30)
    return evaluated, total


def main():
    url, dialogues, turns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    free, total = run(url, dialogues, turns, pin=False)
    pinned, _ = run(url, dialogues, turns, pin=True)
    print(json.dumps({"dialogues": dialogues, "turns": turns, "prompt_tokens": total,
                      "evaluated_free": free, "evaluated_pinned": pinned, "pinned_over_free": round(pinned / free, 3)}))


if __name__ == "__main__":
    main()
