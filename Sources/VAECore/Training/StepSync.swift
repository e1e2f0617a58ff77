/// Where the workers of a step meet: the team's barrier and, on worker 0 alone, the collectives
/// with the other ranks. A collective that fails abandons the step: every worker still passes
/// the same barriers, learns of it at the next `everyone`, and leaves the step with the others.
final class StepSync {
    let team: WorkerTeam
    let communicator: Communicator
    /// The failed collective's error (set by worker 0, read after a barrier).
    private(set) var failure: Error?
    /// Worker 0's time in barriers and collectives since `begin`: waiting for the other workers
    /// and ranks, and moving messages.
    private(set) var communication = 0.0

    init(team: WorkerTeam, communicator: Communicator) {
        self.team = team
        self.communicator = communicator
    }

    /// Before a step.
    func begin() {
        failure = nil
        communication = 0
    }

    /// Runs a barrier or a collective; worker 0 times it.
    func communicate(_ worker: Int, _ body: () throws -> Void) {
        let start = worker == 0 ? Stopwatch.now() : 0
        do { try body() } catch { failure = error }
        if worker == 0 { communication += Stopwatch.now() - start }
    }

    /// A barrier of the rank's workers, then whether to go on (false once a collective failed).
    func everyone(_ worker: Int) -> Bool {
        communicate(worker) { team.barrier() }
        return failure == nil
    }

    /// `everyone`, across ranks too: every worker of every rank has got here.
    func everyoneOnEveryRank(_ worker: Int) -> Bool {
        communicate(worker) { team.barrier() }
        if communicator.size > 1, worker == 0 { communicate(worker) { try communicator.barrier() } }
        return everyone(worker)
    }
}
