internal import Synchronization

/// Where an agent belongs: its tenant, site and host.
struct AgentPlacement: Sendable, Hashable {
    let agentID: String
    let tenantID: String
    let siteID: String
    let hostID: String
}

extension AgentRecord {
    var placement: AgentPlacement {
        AgentPlacement(agentID: id, tenantID: tenantID, siteID: siteID, hostID: hostID)
    }
}

/// The placement of each agent as this process last ingested its heartbeat, so that the
/// next heartbeat can send the query of the plans to lease (which needs the agent's site
/// and host) in the round trip that marks the agent alive, before its row comes back: a
/// heartbeat of an ONLINE agent with nothing to change is then two round trips, not three
/// (README, Performance).
///
/// Only a hint: the heartbeat compares the agent's row it gets back with the placement it
/// assumed and takes the general path when they differ, when there is none, or when the
/// agent is not ONLINE. Bounded; emptied when full.
final class AgentPlacements: Sendable {
    static let limit = 100_000
    private let placements = Mutex<[String: AgentPlacement]>([:])

    /// The placement last recorded for the agent.
    func placement(of agentID: String) -> AgentPlacement? {
        placements.withLock { $0[agentID] }
    }

    /// Records where the agent is.
    func record(_ placement: AgentPlacement) {
        placements.withLock { placements in
            if placements[placement.agentID] == placement { return }
            if placements.count >= Self.limit { placements.removeAll(keepingCapacity: true) }
            placements[placement.agentID] = placement
        }
    }

    /// Forgets the agent (its heartbeat failed).
    func forget(_ agentID: String) {
        _ = placements.withLock { $0.removeValue(forKey: agentID) }
    }
}
