import NKudoContract

/// Whether an agent-driven change may move a VM, and what it changes. Pure.
///
/// - DELETED is terminal: a deleted VM stays deleted whatever is reported later.
/// - The same state again only re-places the VM on the reporting host: no transition, no
///   audit event, `last_transition_at` unchanged.
/// - Any other state is a transition: recorded with `last_transition_at` and a
///   `microvm.transition` audit event.
enum MicroVMTransition: Sendable, Hashable {
    /// Nothing changes.
    case none
    /// The VM keeps its state; only its host and `updated_at` are written.
    case touch
    /// The VM moves from `from` to `to`.
    case move(from: MicroVM.State, to: MicroVM.State)

    /// The change of a VM in state `from` that is to be in state `to`.
    static func decide(from: MicroVM.State, to: MicroVM.State) -> MicroVMTransition {
        if from == .deleted { return .none }
        if from == to { return .touch }
        return .move(from: from, to: to)
    }
}
