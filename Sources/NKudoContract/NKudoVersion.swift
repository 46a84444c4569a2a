/// The version of n-kudo's binaries.
public enum NKudoVersion {
    /// Semantic version of this build.
    public static let current = "0.1.0"
}
