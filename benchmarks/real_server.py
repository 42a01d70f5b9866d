"""Throughput on the real local server: Parley's generated tokens/s against a plain Python asyncio
loop (aiohttp) sending the same requests to the same llama-server at the same concurrency.

Parley runs examples/configs/demo.json over SEEDS questions once through a recording proxy (to
learn the exact request bodies it sends), then again straight to the server, timed. The Python
loop replays the recorded bodies as Parley's dialogues are shaped: CONCURRENCY dialogues at a
time, each one's requests one after another, in the order Parley sent them (replaying them as
independent requests kept every slot busy to the end, where Parley's last dialogues run fewer
than CONCURRENCY at once, and favoured Python by that tail). The server is the bottleneck, so
parity is the limit. Medians of REPEAT rounds, run alternately.

    .venv/bin/python benchmarks/real_server.py [SEEDS] [CONCURRENCY] [REPEAT]   (defaults 24 8 3)

Needs scripts/local-model install, the release CLI (benchmarks/run builds it) and aiohttp.
"""
import asyncio, json, re, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests/e2e"))
from faultproxy import FaultProxy  # noqa: E402

PARLEY = ROOT / ".build/release/parley"
# Seed i asks "How do <topic> work? (i)"; every prompt of its dialogue quotes it, as the context is wide
# enough for a whole dialogue (the demo's 512 tokens would window the question out of later turns).
CONTEXT = 2048
SEED_NUMBER = re.compile(r"How do \w+ work\? \((\d+)\)")


def synth(work, base_url, seeds, concurrency, out):
    subprocess.run([PARLEY, "synth", "--config", ROOT / "examples/configs/demo.json", "--seeds", seeds,
                    "--out", out, "--fresh", "--quiet", "--set", f"backends.local.base_url={base_url}/v1",
                    "--set", f"backends.local.max_concurrency={concurrency}",
                    "--set", f"run.concurrency={concurrency}", "--set", "turns.max=4",
                    "--set", f"roles.asker.max_context={CONTEXT}", "--set", f"roles.assistant.max_context={CONTEXT}"],
                   check=True, capture_output=True, cwd=work)
    summary = json.loads((Path(out) / "summary.json").read_text())
    return summary["completion_tokens"] / summary["wall_seconds"]


def dialogues(records):
    """The recorded requests grouped into their dialogues (by the seed's number, which every prompt of a
    dialogue quotes), each in the order sent, the dialogues in the order they began."""
    chains = {}
    for r in records:
        number = SEED_NUMBER.search(json.dumps(r["request"]))
        if number is None:
            raise SystemExit(f"a recorded request quotes no seed: {json.dumps(r['request'])[:200]}")
        chains.setdefault(number.group(1), []).append(r)
    return list(chains.values())


async def replay(base_url, chains, concurrency):
    """The recorded dialogues, `concurrency` at a time, each one's requests in turn; generated tokens per second."""
    pending = iter(chains)
    tokens = 0

    async def worker(session):
        nonlocal tokens
        for chain in pending:
            for r in chain:
                async with session.post(base_url + r["path"], json=r["request"]) as reply:
                    tokens += (await reply.json())["usage"]["completion_tokens"]

    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return tokens / (time.monotonic() - started)


def main(n_seeds, concurrency, repeat):
    start = subprocess.run([ROOT / "scripts/local-model", "start", "--ctx", str(CONTEXT * concurrency),
                            "--parallel", str(concurrency)], check=True, capture_output=True, text=True, cwd=ROOT)
    env = dict(line.split("=", 1) for line in start.stdout.split() if "=" in line)
    server, pid = env["LOCAL_MODEL_URL"], env["LOCAL_MODEL_PID"]
    try:
        with tempfile.TemporaryDirectory() as work:
            seeds = Path(work) / "seeds.jsonl"
            topics = ["rain", "bread", "bees", "tides", "volcanoes", "glass", "maps", "clocks", "salt", "owls",
                      "bridges", "paper"]
            seeds.write_text("".join(json.dumps({"question": f"How do {topics[i % len(topics)]} work? ({i})"}) + "\n"
                                     for i in range(n_seeds)))
            with FaultProxy(upstream=server, rate=0, record=True) as proxy:
                synth(work, proxy.url, seeds, concurrency, Path(work) / "recorded")
                records = [r for r in proxy.records if r["path"].endswith("completions")]
            chains = dialogues(records)
            if len(chains) != n_seeds:
                raise SystemExit(f"the recorded requests form {len(chains)} dialogues, not {n_seeds}")
            parley, python = [], []
            for _ in range(repeat):
                parley.append(synth(work, server, seeds, concurrency, Path(work) / "run"))
                python.append(asyncio.run(replay(server, chains, concurrency)))
    finally:
        subprocess.run([ROOT / "scripts/local-model", "stop", pid], capture_output=True)
    p, y = statistics.median(parley), statistics.median(python)
    print(f"real server: {p:.0f} generated tokens/s (parley) vs {y:.0f} (Python aiohttp, the same {len(records)} "
          f"requests in {len(chains)} dialogues): x{p / y:.2f} at {concurrency} in flight, {n_seeds} dialogues   "
          f"[target >= 1.00]")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [24, 8, 3][len(args):]))
