/// Parley's version (the C ABI reports it through parley_version()).
public enum ParleyVersion {
    public static let string = "0.1.0"
}
