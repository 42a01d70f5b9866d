/// Reading `run.metrics`: `{"port": 9464, "host": "127.0.0.1"}`.
extension MetricsSettings {
    /// nil when the port is missing or wrong (reported at its path).
    init?(reading o: ObjectReader) {
        defer { o.finish() }
        let host = o.string("host", nonEmpty: true)
        guard let port = o.int("port", min: 0, max: 65535) else {
            if !o.has("port") {
                o.reader.report(o.childPath("port"), "missing: the port to serve on (0: any free one)")
            }
            return nil
        }
        self.init(port: port)
        if let host { self.host = host }
    }
}
