import XCTest

@testable import Parley

final class ConfigTests: XCTestCase {
    func issues(_ text: String) -> [String] {
        do {
            _ = try Config.parse(text)
            return []
        } catch { return error.issues.map(\.description) }
    }

    let valid = """
        {"backends": {"local": {"type": "openai", "base_url": "http://127.0.0.1:8080/v1", "model": "m"}},
         "roles": {"asker": {"backend": "local", "endpoint": "completion"}, "assistant": {"backend": "local"}}}
        """

    func testValidConfigHasDefaults() throws {
        let c = try Config.parse(valid)
        XCTAssertEqual(c.turns.max, 8...8)
        XCTAssertEqual(c.roles["asker"]?.mode, .trained)
        XCTAssertEqual(c.roles["assistant"]?.endpoint, .chat)
        guard case .openai(let o)? = c.backends["local"] else { return XCTFail() }
        XCTAssertEqual(o.baseURL, "http://127.0.0.1:8080/v1")
        XCTAssertEqual(o.tokenizer, .estimate)
    }

    func testWrongTypeIsNamedWithItsPath() {
        let text = valid.replacingOccurrences(
            of: #""endpoint": "completion"}"#, with: #""endpoint": "completion", "max_tokens": "ten"}"#)
        XCTAssertEqual(issues(text), [#"roles.asker.max_tokens: expected a positive integer, got "ten""#])
    }

    func testParamsPassThroughButMayNotSetWhatParleySets() throws {
        let ok = valid.replacingOccurrences(
            of: #""endpoint": "completion"}"#,
            with: #""endpoint": "completion", "params": {"top_k": 50, "min_p": 0.05, "#
                + #""response_format": {"type": "text"}}}"#)
        let params = try Config.parse(ok).roles["asker"]?.params
        XCTAssertEqual(params?["top_k"], .number(50))
        XCTAssertEqual(params?["response_format"], .object(["type": "text"]))
        let request = GenerationRequest(
            dialogueID: "d", messageIndex: 0, role: "asker", prompt: .text("Hi"), maxTokens: 8, params: params ?? [:])
        let host = try JSONValue.parse(HostJSON.request(request, ticket: 1))
        XCTAssertEqual(host.objectValue?["params"]?.objectValue?["min_p"], .number(0.05), "hosts get them too")

        let clash = valid.replacingOccurrences(
            of: #""endpoint": "completion"}"#,
            with: #""endpoint": "completion", "params": {"temperature": 0, "stream": true}}"#)
        XCTAssertEqual(
            issues(clash),
            [
                "roles.asker.params.stream: Parley sets it itself",
                "roles.asker.params.temperature: Parley sets it from roles.asker.temperature; set that instead",
            ])
        let notAnObject = valid.replacingOccurrences(
            of: #""endpoint": "completion"}"#, with: #""endpoint": "completion", "params": [1]}"#)
        XCTAssertEqual(issues(notAnObject), ["roles.asker.params: expected an object, got an array"])
    }

    func testUnknownKeySuggestsTheClosest() {
        let text = valid.replacingOccurrences(of: #""model": "m""#, with: #""model": "m", "max_concurency": 3"#)
        XCTAssertEqual(issues(text), [#"backends.local.max_concurency: unknown key (did you mean "max_concurrency"?)"#])
    }

    func testEveryProblemIsReported() {
        let found = issues(
            """
            {"backends": {"b": {"type": "openai", "base_url": "ftp://x"}},
             "roles": {"asker": {"backend": "c", "mode": "trained", "temperature": -1}},
             "turns": {"max": [5, 2]}, "extra": 1}
            """)
        XCTAssertEqual(
            Set(found),
            [
                #"backends.b.base_url: expected an http(s) URL, got "ftp://x""#,
                "backends.b.model: missing: the model name the server expects",
                #"roles.asker.backend: no backend named "c" (did you mean "b"?)"#,
                #"roles.asker.mode: "trained" continues a transcript and needs "endpoint": "completion""#,
                "roles.asker.temperature: expected a number in 0…5, got -1",
                "turns.max: expected an integer ≥ 1 or a range [low, high], got an array",
                "extra: unknown key",
                "roles.assistant: missing: the parrot recipe needs roles asker and assistant",
            ])
    }

    func testMalformedJSON() {
        let found = issues(#"{"roles": "#)
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found[0].hasPrefix("not valid JSON"), found[0])
    }

    func testFingerprintIgnoresOperationalSettings() throws {
        let a = try Config.parse(valid)
        let b = try Config.parse(
            valid.replacingOccurrences(of: "8080", with: "9090")
                .replacingOccurrences(of: #""model": "m""#, with: #""model": "m", "max_concurrency": 2"#))
        let c = try Config.parse(
            valid.replacingOccurrences(of: #""backend": "local"}}"#, with: #""backend": "local", "max_tokens": 99}}"#))
        XCTAssertEqual(a.fingerprint, b.fingerprint)
        XCTAssertNotEqual(a.fingerprint, c.fingerprint)
    }

    /// Fingerprints written by the version that listed the operational keys apart (before each
    /// field declared its `FieldUse`): a run directory made then still resumes.
    func testFingerprintsAreThoseOfEarlierVersions() throws {
        let everyOperationalField = #"""
            {"recipe": "parrot", "seeds": "seeds.jsonl",
             "output": {"dir": "out-a", "formats": ["sharegpt", "messages"]},
             "run": {"seed": 7, "concurrency": 3, "limit": 5, "progress_seconds": 2, "durability": "fsync",
                     "budget": {"max_prompt_tokens": 1000000}},
             "turns": {"max": [2, 3]},
             "backends": {"s": {"type": "scripted", "words": [3, 5], "latency_ms": 1, "jitter_ms": 1, "fail_rate": 0,
                                "fail_every": 0, "max_concurrency": 4, "max_retries": 1, "backoff_base_seconds": 0.01,
                                "backoff_max_seconds": 0.1, "concurrency": "fixed", "requests_per_minute": 100000}},
             "roles": {"asker": {"backend": "s"}, "assistant": {"backend": "s", "max_tokens": 64}}}
            """#
        let fleet = #"""
            {"recipe": "parrot", "seeds": "seeds.jsonl",
             "run": {"shard": "1/1", "metrics": {"port": 9464, "host": "127.0.0.1"}},
             "backends": {"o": {"type": "openai", "model": "m",
                                "endpoints": [{"base_url": "http://127.0.0.1:9/v1", "weight": 2}],
                                "routing": "affinity", "timeout_seconds": 1, "api_key_env": "NOPE_KEY",
                                "cache_prompt": true,
                                "max_retries": 0, "tokens_per_minute": 100000, "input_tokens_per_minute": 100000,
                                "output_tokens_per_minute": 100000, "tokenizer": "estimate", "chars_per_token": 3.5}},
             "roles": {"asker": {"backend": "o"}, "assistant": {"backend": "o"}}}
            """#
        XCTAssertEqual(try Config.parse(everyOperationalField).fingerprint, "d8519969bc8a3803")
        XCTAssertEqual(try Config.parse(fleet).fingerprint, "7336b2006f4faebd")
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../examples/configs"
        ).standardized
        let pinned = [
            "capo-local": "e22e7a481e5d3e9f",
            "demo": "e575b169b4c35ff6",
            "eval-local": "026bc66eb97624c8",
            "expert-local": "0c810fe73d448b12",
            "local": "508fe8d1a2da0f84",
            "local-baize": "64947aac68408370",
            "local-prompted": "eb27beeccf6f819d",
            "local-socratic": "07cb1c24057f3d92",
            "local-swapped": "dff65c98d0a3ddd7",
            "openai-assistant": "dc5a14d7302573f0",
            "prompted-asker": "8064643c5e26e69c",
            "scripted": "bed1c4779d4ea7fe",
            "selftalk-local": "fe2cb9b72aac88c4",
        ]
        for (name, fingerprint) in pinned {
            let text = try String(contentsOf: dir.appendingPathComponent(name + ".json"), encoding: .utf8)
            XCTAssertEqual(try Config.parse(text).fingerprint, fingerprint, name)
        }
    }

    func testShippedExampleConfigsValidate() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../examples/configs"
        ).standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        XCTAssertGreaterThanOrEqual(files.count, 3)
        for f in files {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            XCTAssertNoThrow(try Config.parse(text), f)
        }
    }
}

final class SeedTests: XCTestCase {
    func testModes() throws {
        XCTAssertEqual(try Seed.parse(line: #"{"question": "q"}"#, number: 1).mode, .question)
        XCTAssertEqual(try Seed.parse(line: #"{"question": "q", "answer": "a"}"#, number: 1).mode, .exchange)
        XCTAssertEqual(try Seed.parse(line: #"{}"#, number: 1).mode, .free)
        XCTAssertEqual(try Seed.parse(line: #"{"topic": "t"}"#, number: 1).topic, "t")
    }

    func testIDsAreKeptOrDerivedStably() throws {
        XCTAssertEqual(try Seed.parse(line: #"{"id": "x1", "question": "q"}"#, number: 3).id, "x1")
        let a = try Seed.parse(line: #"{"question": "q"}"#, number: 3)
        XCTAssertEqual(a.id, try Seed.parse(line: #"{"question":"q"}"#, number: 3).id)
        XCTAssertNotEqual(a.id, try Seed.parse(line: #"{"question": "q"}"#, number: 4).id)
        XCTAssertEqual(a.id, "d" + String(a.id.dropFirst()), "ids are stable text")
    }

    func testBrokenLinesSayWhy() {
        XCTAssertThrowsError(try Seed.parse(line: #"{"question": "#, number: 7)) {
            XCTAssertTrue("\($0)".hasPrefix("seeds line 7: not valid JSON: "), "\($0)")
        }
        XCTAssertThrowsError(try Seed.parse(line: #"{"question": 3}"#, number: 2)) {
            XCTAssertEqual("\($0)", "seeds line 2: question: expected a string, got 3")
        }
        XCTAssertThrowsError(try Seed.parse(line: #"["q"]"#, number: 1))
        XCTAssertThrowsError(try Seed.parse(line: #"{"answer": "a"}"#, number: 1))
    }
}
