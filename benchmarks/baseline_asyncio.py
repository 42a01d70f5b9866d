"""The baseline the engine is compared with: a plain Python asyncio loop doing the same
dialogue work (two scripted generations per turn, messages kept per dialogue, a
semaphore bounding dialogues in flight), without a journal or output files.

    python3 benchmarks/baseline_asyncio.py overhead DIALOGUES TURNS
    python3 benchmarks/baseline_asyncio.py saturation DIALOGUES LATENCY_MS CONCURRENCY
"""
import asyncio, hashlib, json, random, resource, sys, time

WORDS = "the a model data turn ask answer why how what context window token server user assistant".split()


def generate(dialogue_id, turn, role):
    rng = random.Random(hash((dialogue_id, turn, role)))
    return f"{role} {turn}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 24)))


class Counts:
    """Dialogues in flight and messages generated, for the steady-state figure."""
    in_flight = 0
    messages = 0


async def dialogue(i, turns, latency, sem):
    async with sem:
        Counts.in_flight += 1
        messages = [{"role": "user", "content": f"Benchmark question {i}?"}]
        for t in range(turns):
            if latency: await asyncio.sleep(latency)
            messages.append({"role": "assistant", "content": generate(i, len(messages), "assistant")})
            Counts.messages += 1
            if t + 1 < turns:
                if latency: await asyncio.sleep(latency)
                messages.append({"role": "user", "content": generate(i, len(messages), "asker")})
                Counts.messages += 1
        Counts.in_flight -= 1
        return turns


async def main(dialogues, turns, latency, concurrency, samples=None):
    sem = asyncio.Semaphore(concurrency)
    work = asyncio.gather(*(dialogue(i, turns, latency, sem) for i in range(dialogues)))
    if samples is not None:  # every 2 ms: (seconds, messages, every slot held)
        t0 = time.perf_counter()
        while not work.done():
            samples.append((time.perf_counter() - t0, Counts.messages, Counts.in_flight == concurrency))
            await asyncio.wait([work], timeout=0.002)
    return sum(await work)


def steady(samples, concurrency, latency):
    """Requests a second against the bound while every slot is held, after the first round."""
    full = [s for s in samples if s[2] and s[1] >= concurrency]
    if len(full) < 2 or full[-1][0] <= full[0][0]:
        return 0.0
    return (full[-1][1] - full[0][1]) / (full[-1][0] - full[0][0]) * latency / concurrency


def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


if __name__ == "__main__":
    kind, args = sys.argv[1], [int(a) for a in sys.argv[2:]]
    if kind == "overhead":
        n, turns = (args + [10000, 8])[:2]
        c0, t0 = cpu(), time.perf_counter()
        total = asyncio.run(main(n, turns, 0, 256))
        wall, used = time.perf_counter() - t0, cpu() - c0
        print(json.dumps({"bench": "overhead-python", "turns": total, "turns_per_s": int(total / wall),
                          "cpu_us_per_turn": round(used / total * 1e6, 2)}))
    else:
        n, latency_ms, concurrency = (args + [4096, 20, 512])[:3]
        t0, samples = time.perf_counter(), []
        total = asyncio.run(main(n, 8, latency_ms / 1000, concurrency, samples))
        requests = n * (2 * 8 - 1)  # the seed question is given: the first turn is one request
        achieved, ideal = total / (time.perf_counter() - t0), concurrency / (latency_ms / 1000) * total / requests
        print(json.dumps({"bench": "saturation-python", "turns_per_s": int(achieved), "efficiency": round(achieved / ideal, 3),
                          "steady_efficiency": round(steady(samples, concurrency, latency_ms / 1000), 3)}))
