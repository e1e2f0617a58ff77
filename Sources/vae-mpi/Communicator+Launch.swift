import VAECore

/// The communicator for this process: one process alone for now.
func makeCommunicator() throws -> Communicator {
    SingleProcessCommunicator()
}
