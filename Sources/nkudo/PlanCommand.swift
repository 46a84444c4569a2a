import ArgumentParser
import Foundation
import NKudoClient
import NKudoContract
import NKudoWire

/// `nkudo plan`: apply plans to a site and follow them.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Apply plans (create, start, stop, delete VMs) and show their progress.",
        subcommands: [Apply.self, Get.self, List.self])

    /// How long `--wait` waits: `--wait-timeout`.
    struct WaitOptions: ParsableArguments {
        @Flag(help: "Wait until the plan is SUCCEEDED, FAILED or CANCELLED; exit 6 unless it SUCCEEDED.")
        var wait = false

        @Option(name: .customLong("wait-timeout"), help: "How long --wait waits, e.g. 5m (exit 7 when it runs out).")
        var waitTimeout: String = "10m"

        func validate() throws {
            guard let duration = HumanFormat.parseDuration(waitTimeout), duration >= .seconds(1) else {
                throw ValidationError("--wait-timeout must be a duration such as 90s or 10m")
            }
        }

        var duration: Duration { HumanFormat.parseDuration(waitTimeout) ?? .seconds(600) }
    }

    /// `nkudo plan apply --site SITE (-f FILE | --create NAME | --start VM | --stop VM | --delete VM)`.
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply a plan to a site: one action from flags, or the actions of a file.",
            discussion: """
                -f reads the proto3 JSON of an ApplyPlanRequest ({"actions": [{"operation": "CREATE", "name": "web-1", …}]}, \
                `-` for stdin); its idempotency_key is used unless --idempotency-key is given. --start, --stop and --delete \
                take a VM id or name. Without --idempotency-key a new key is generated, so running the command again \
                applies a new plan; with the same key the server returns the stored plan (deduplicated).
                """)

        @OptionGroup var site: SiteOption

        @Option(name: [.short, .customLong("file")], help: "File with the plan's actions as proto3 JSON (ApplyPlanRequest); - for stdin.")
        var file: String?

        @Option(help: "Create a VM with this name (an RFC 1123 label).")
        var create: String?

        @Option(help: "Start a VM (id or name).")
        var start: String?

        @Option(help: "Stop a VM (id or name).")
        var stop: String?

        @Option(help: "Delete a VM (id or name).")
        var delete: String?

        @Option(name: .customLong("vm-id"), help: "With --create: the new VM's id (a UUID; default: chosen by the server).")
        var vmID: String?

        @Option(help: "With --create: virtual CPUs (default: 1).")
        var vcpus: Int32?

        @Option(help: "With --create: memory, e.g. 512, 512MiB or 1GiB (MiB when no unit; default: 128 MiB).")
        var memory: String?

        @Option(help: "With --create: disk image name (or sha256:digest) of the hosts' catalog (nkudo image list).")
        var image: String?

        @Option(help: "With --create: kernel to boot directly, named like --image.")
        var kernel: String?

        @Option(help: "With --create: initial ramdisk for --kernel, named like --image.")
        var initrd: String?

        @Option(name: .customLong("kernel-arg"), help: "With --create and --kernel: a kernel command-line word (repeatable).")
        var kernelArgs: [String] = []

        @Option(name: .customLong("ssh-key"), help: "With --create: an SSH public key line for the guest (repeatable).")
        var sshKeys: [String] = []

        @Option(name: .customLong("user-data-file"), help: "With --create: file of cloud-init user-data for the guest.")
        var userDataFile: String?

        @Option(name: .customLong("idempotency-key"), help: "Idempotency key of the plan (default: a new one).")
        var idempotencyKey: String?

        @OptionGroup var waiting: WaitOptions
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            let chosen = [file, create, start, stop, delete].compactMap { $0 }.count
            guard chosen == 1 else {
                throw ValidationError("give exactly one of -f FILE, --create NAME, --start VM, --stop VM or --delete VM")
            }
            let createOnly = vmID != nil || vcpus != nil || memory != nil || image != nil || kernel != nil || initrd != nil
                || !kernelArgs.isEmpty || !sshKeys.isEmpty || userDataFile != nil
            if createOnly && create == nil {
                throw ValidationError("--vm-id, --vcpus, --memory, --image, --kernel, --initrd, --kernel-arg, --ssh-key and --user-data-file go with --create")
            }
            if let memory, (HumanFormat.parseMebibytes(memory) ?? .max) > MicroVMLimits.maximumMemoryMiB {
                throw ValidationError("--memory must be a size such as 512, 512MiB or 2GiB, at most \(MicroVMLimits.maximumMemoryMiB / 1024) GiB")
            }
            if let vcpus, !(1...MicroVMLimits.maximumVCPUs).contains(vcpus) {
                throw ValidationError("--vcpus must be 1 to \(MicroVMLimits.maximumVCPUs)")
            }
            if let vmID, UUID(uuidString: vmID) == nil {
                throw ValidationError("--vm-id must be a UUID")
            }
        }

        /// The request, VM names resolved to ids.
        func request(_ session: Session, siteID: String) async throws -> ApplyPlanRequest {
            var request = ApplyPlanRequest(siteId: siteID)
            if let file {
                request = try Self.read(file)
                request.siteId = siteID
            } else if let create {
                var action = ApplyPlanRequest.Action(operation: .create, vmId: vmID?.lowercased() ?? "", name: create,
                                                     vcpuCount: vcpus ?? 0, memoryMib: memory.flatMap(HumanFormat.parseMebibytes) ?? 0,
                                                     image: image ?? "", kernel: kernel ?? "", initrd: initrd ?? "",
                                                     kernelArgs: kernelArgs, sshAuthorizedKeys: sshKeys)
                if let userDataFile {
                    guard let text = try? String(contentsOfFile: userDataFile, encoding: .utf8) else {
                        throw ClientError(.usage, "cannot read --user-data-file \(userDataFile)")
                    }
                    action.userData = text
                }
                request.actions = [action]
            } else {
                let (operation, reference): (Execution.Operation, String) =
                    start.map { (.start, $0) } ?? stop.map { (.stop, $0) } ?? (.delete, delete ?? "")
                let vmID = Session.isUUID(reference) ? reference.lowercased() : try await session.vm(reference, siteID: siteID).id
                request.actions = [ApplyPlanRequest.Action(operation: operation, vmId: vmID)]
            }
            if let idempotencyKey {
                request.idempotencyKey = idempotencyKey
            } else if request.idempotencyKey.isEmpty {
                request.idempotencyKey = "nkudo-" + UUID().uuidString.lowercased()
            }
            return request
        }

        static func read(_ path: String) throws(ClientError) -> ApplyPlanRequest {
            let data: Data?
            if path == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                data = FileManager.default.contents(atPath: path)
            }
            guard let data else { throw ClientError(.usage, "cannot read the plan file \(path)") }
            do {
                return try ApplyPlanRequest(jsonBytes: Array(data))
            } catch {
                throw ClientError(.usage, "\(path) is not an ApplyPlanRequest in proto3 JSON: \(error)")
            }
        }

        func run() async throws {
            let output = Output(format: global.output)
            let final: Plan? = try await global.withSession { session in
                let siteID = try await session.siteID(try site.reference())
                let response = try await session.tenant.applyPlan(try await request(session, siteID: siteID))
                guard waiting.wait else {
                    try output.emit(response) { wide in Rendering.applied(response, wide: wide) }
                    return nil
                }
                if !output.isStructured {
                    print(Rendering.applied(response, wide: output.wide), terminator: "")
                    print("waiting for plan \(response.planId)…")
                }
                return try await PlanCommand.wait(session, planID: response.planId, timeout: waiting.duration)
            }
            if let final { try PlanCommand.finish(final, output: output) }
        }
    }

    /// `nkudo plan get PLAN [--wait]`.
    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a plan with its executions; --wait waits until it is done.")

        @Argument(help: "Plan id.")
        var plan: String

        @OptionGroup var waiting: WaitOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let output = Output(format: global.output)
            let found = try await global.withSession { session in
                waiting.wait ? try await PlanCommand.wait(session, planID: plan, timeout: waiting.duration)
                             : try await session.tenant.getPlan(GetPlanRequest(planId: plan))
            }
            if waiting.wait {
                try PlanCommand.finish(found, output: output)
            } else {
                try output.emit(found) { wide in Rendering.plan(found, wide: wide) }
            }
        }
    }

    /// `nkudo plan list --site SITE`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a site's plans, newest first.")

        @OptionGroup var site: SiteOption

        @Option(help: "Plans per page (default: 50, at most 200).")
        var limit: Int32 = 0

        @Option(help: "The next-cursor a previous page printed.")
        var cursor: String?

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let response = try await global.withSession { session in
                try await session.tenant.listPlans(ListPlansRequest(siteId: try await session.siteID(try site.reference()),
                                                                    limit: limit, cursor: cursor ?? ""))
            }
            try Output(format: global.output).emit(response) { wide in
                var table = Table([.init("id"), .init("version"), .init("status"), .init("actions"), .init("created"), .init("updated"),
                                   .init("idempotency key", wideOnly: true), .init("completed", wideOnly: true)])
                for plan in response.plans {
                    table.append([plan.id, String(plan.version), Rendering.name(plan.status),
                                  plan.executions.map { Rendering.name($0.operationType) }.joined(separator: ","),
                                  HumanFormat.relative(plan.createdAt), HumanFormat.relative(plan.updatedAt), plan.idempotencyKey,
                                  HumanFormat.relative(plan.completedAt)])
                }
                return table.render(wide: wide) + (response.nextCursor.map { "more: --cursor \($0)\n" } ?? "")
            }
        }
    }

    static func isTerminal(_ status: Plan.Status) -> Bool {
        status == .succeeded || status == .failed || status == .cancelled
    }

    /// Long-polls GetPlan until the plan is terminal.
    ///
    /// - Throws: ``ClientError`` `.timedOut` when `timeout` runs out first.
    static func wait(_ session: Session, planID: String, timeout: Duration) async throws -> Plan {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let remaining = clock.now.duration(to: deadline)
            let seconds = min(30, max(1, remaining.components.seconds))
            let plan = try await session.tenant.getPlan(GetPlanRequest(planId: planID, wait: "\(seconds)s"))
            if isTerminal(plan.status) { return plan }
            if clock.now >= deadline {
                throw ClientError(.timedOut, "plan \(planID) is still \(Rendering.name(plan.status)) after \(HumanFormat.duration(Double(timeout.components.seconds)))")
            }
        }
    }

    /// Prints a terminal plan; a plan that did not succeed is an error (exit 6).
    static func finish(_ plan: Plan, output: Output) throws {
        try output.emit(plan) { wide in Rendering.plan(plan, wide: wide) }
        guard plan.status == .succeeded else {
            let failed = plan.executions.first { $0.state == .failed }
            let reason = failed.map { execution in
                "; execution \(execution.id) (\(Rendering.name(execution.operationType))) failed: "
                    + [execution.errorCode, execution.errorMessage].compactMap { $0 }.joined(separator: ": ")
            } ?? ""
            throw ClientError(.planFailed, "plan \(plan.id) \(Rendering.name(plan.status))\(reason)")
        }
    }
}

extension Rendering {
    static func applied(_ response: ApplyPlanResponse, wide: Bool) -> String {
        var details = Details()
        details.append("plan", response.planId)
        details.append("version", String(response.planVersion))
        details.append("status", name(response.planStatus))
        details.append("deduplicated", response.deduplicated ? "yes (the idempotency key was used before)" : "no")
        return details.render() + "\n" + executions(response.executions, wide: wide)
    }

    static func plan(_ plan: Plan, wide: Bool) -> String {
        var details = Details()
        details.append("plan", plan.id)
        details.append("site", plan.siteId)
        details.append("version", String(plan.version))
        details.append("status", name(plan.status))
        details.append("idempotency key", plan.idempotencyKey)
        details.append("created", "\(HumanFormat.time(plan.createdAt)) (\(HumanFormat.relative(plan.createdAt)))")
        if let started = plan.startedAt, let completed = plan.completedAt {
            details.append("took", HumanFormat.duration(completed.date.timeIntervalSince(started.date)))
        }
        return details.render() + "\n" + executions(plan.executions, wide: wide)
    }
}
