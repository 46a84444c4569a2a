// The contract's Swift types are generated from proto/ by NKudoContractPlugin at build
// time (models, enums, schemas, service protocols, route tables and clients). This
// file re-exports the wire runtime they are written against and lists the services.
@_exported public import NKudoWire

/// The contract as a whole.
public enum NKudoContract {
    /// Every RPC of every service, services in a fixed order.
    public static let allMethods: [RPCMethod] =
        HealthService.methods + AdminService.methods + TenantService.methods + AgentService.methods
}
