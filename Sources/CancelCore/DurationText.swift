/// Durations as an operator reads them: "0.3 s", "42 s", "3 min 5 s", "2 h 10 min", "3 d 4 h".
public enum DurationText {
    public static func describe(_ seconds: Double) -> String {
        let value = abs(seconds)
        if value < 10 {
            let tenths = (value * 10).rounded() / 10
            return (tenths == tenths.rounded() ? String(Int(tenths)) : String(tenths)) + " s"
        }
        let total = Int(value.rounded())
        let (days, hours, minutes, secs) = (total / 86_400, total % 86_400 / 3600, total % 3600 / 60, total % 60)
        func pair(_ big: Int, _ bigUnit: String, _ small: Int, _ smallUnit: String) -> String {
            small == 0 ? "\(big) \(bigUnit)" : "\(big) \(bigUnit) \(small) \(smallUnit)"
        }
        if days > 0 { return pair(days, "d", hours, "h") }
        if hours > 0 { return pair(hours, "h", minutes, "min") }
        if minutes > 0 { return pair(minutes, "min", secs, "s") }
        return "\(secs) s"
    }
}
