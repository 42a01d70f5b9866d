"""The HTTP baseline the engine's client is compared with (benchmarks/http): a plain Python
asyncio loop sending chat completion requests to an OpenAI-compatible server with aiohttp or
httpx, at most CONCURRENCY in flight over pooled keep-alive connections, each answer parsed.
Nothing else: no prompts, no journal, no output files.

    python3 benchmarks/baseline_http.py aiohttp|httpx BASE_URL REQUESTS CONCURRENCY

Prints {"bench": "http-python", "client", "requests", "cpu_us_per_request", "requests_per_s"}.
"""
import asyncio, json, resource, sys, time


def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def body(i):
    return {"model": "stub", "max_tokens": 64, "temperature": 0.7, "seed": i,
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": f"Benchmark question number {i}?"}]}


async def with_httpx(base_url, requests, concurrency):
    import httpx
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        async def send(i):
            reply = await client.post("/chat/completions", json=body(i))
            reply.raise_for_status()
            return reply.json()
        await run(send, requests, concurrency)


async def with_aiohttp(base_url, requests, concurrency):
    import aiohttp
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def send(i):
            async with session.post(base_url + "/chat/completions", json=body(i)) as reply:
                reply.raise_for_status()
                return await reply.json()
        await run(send, requests, concurrency)


async def run(send, requests, concurrency):
    """CONCURRENCY workers taking request numbers from one iterator: at most that many in flight."""
    numbers = iter(range(requests))

    async def worker():
        for i in numbers:
            answer = await send(i)
            assert answer["choices"][0]["message"]["content"]

    await asyncio.gather(*(worker() for _ in range(concurrency)))


if __name__ == "__main__":
    client, base_url, requests, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    cpu0, t0 = cpu(), time.monotonic()
    asyncio.run({"aiohttp": with_aiohttp, "httpx": with_httpx}[client](base_url, requests, concurrency))
    cpu1, t1 = cpu(), time.monotonic()
    print(json.dumps({"bench": "http-python", "client": client, "requests": requests,
                      "cpu_us_per_request": round((cpu1 - cpu0) / requests * 1e6, 2),
                      "requests_per_s": round(requests / (t1 - t0))}))
