extension RunStats {
    /// Evaluations: turns judged (`summary.json`'s `judged_turns`).
    public var judgedTurns: Int { counters["judged_turns"] ?? 0 }
    /// Evaluations: judged turns the judge could not score (`unscored_turns`).
    public var unscoredTurns: Int { counters["unscored_turns"] ?? 0 }
}
