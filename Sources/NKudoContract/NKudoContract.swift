// The contract's Swift types are produced from proto/ by NKudoContractPlugin at build
// time (models, enums, schemas, service protocols, route tables and clients). This
// file re-exports the wire runtime they are written against; `ContractRegistry` lists
// every message type and RPC.
@_exported public import NKudoWire
