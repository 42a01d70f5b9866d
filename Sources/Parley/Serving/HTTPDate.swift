import FoundationEssentials

/// HTTP dates (RFC 9110 §5.6.7), as `Retry-After` may carry them: the IMF-fixdate every current
/// server sends (`Sun, 06 Nov 1994 08:49:37 GMT`) and the two obsolete forms recipients must still
/// read (`Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov  6 08:49:37 1994`). Read by hand: Foundation's
/// `DateFormatter` needs ICU, which the library leaves out.
enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// The date `text` names, or nil when it is none of the three forms.
    static func parse(_ text: String, now: Date = Date()) -> Date? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" || $0 == ":" }).map(String.init)
        let day: Int?
        let month: Int?
        var year: Int?
        let clock: ArraySlice<String>
        switch parts.count {
        case 8 where parts[7] == "GMT":  // IMF-fixdate or RFC 850
            day = Int(parts[1])
            month = monthNumber(parts[2])
            year = Int(parts[3])
            clock = parts[4...6]
            if parts[3].count == 2, let y = year {
                // RFC 850's two digits: the century that puts the date at most 50 years ahead.
                let current = 1970 + Int(now.timeIntervalSince1970 / 31_556_952)  // mean Gregorian year
                year = y + current / 100 * 100
                if let full = year, full > current + 50 { year = full - 100 }
            }
        case 7:  // asctime
            month = monthNumber(parts[1])
            day = Int(parts[2])
            year = Int(parts[6])
            clock = parts[3...5]
        default:
            return nil
        }
        let time = clock.compactMap { Int($0) }
        guard let day, let month, let year, time.count == 3, (1...31).contains(day), (1900...9999).contains(year),
            (0...23).contains(time[0]), (0...59).contains(time[1]), (0...60).contains(time[2])
        else { return nil }
        let seconds =
            daysSinceEpoch(year: year, month: month, day: day) * 86_400 + time[0] * 3600 + time[1] * 60 + time[2]
        return Date(timeIntervalSince1970: Double(seconds))
    }

    private static func monthNumber(_ name: String) -> Int? {
        months.firstIndex(of: name.lowercased()).map { $0 + 1 }
    }

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
    /// `days_from_civil`).
    static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
