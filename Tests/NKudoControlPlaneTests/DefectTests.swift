import Testing

/// The original's defects (reference §15) that live in the HTTP layer, services or PKI,
/// one test each, named after the defect, in suites by concept (`DefectTests+*.swift`).
/// Store-level defects are tested in NKudoStoreTests. Serialized, as most start a control
/// plane of their own.
@Suite("Reference §15 defects (control plane)", .serialized)
struct DefectTests {}
