import ArgumentParser
import Dispatch

// The entry point. Not `@main` on the async command: Swift's async main hands the main thread
// to Dispatch with dispatch_main(), which ends it with pthread_exit, and glibc then unwinds its
// stack through the binary's unwind tables (.eh_frame_hdr, .eh_frame): about 1 MiB of them
// stayed resident in the idle agent (README, "Edge agent"). The command runs as a detached
// task instead, off the main actor, while the main thread waits for it; nothing in the agent
// uses the main queue or the main actor.
let commandFinished = DispatchSemaphore(value: 0)
Task.detached {
    await NKudoEdgeCommand.main()
    commandFinished.signal()
}
commandFinished.wait()
