import Foundation
import Synchronization

/// A rank of the job as another rank reaches it: its machine and the port its watch listens on.
struct Peer {
    var rank: Int
    var host: String
    var port: UInt16
}

/// Notices a machine of the job that no longer answers while this rank waits in a collective,
/// and ends this rank with one line naming the ranks on that machine.
///
/// Blocking MPI over TCP cannot tell a lost machine from a slow rank: a rank waiting for data that
/// a cut link will never deliver waits as long as TCP keeps the connection open, many minutes. So
/// every rank listens on a TCP port of its own (the kernel completes a connection however busy the
/// process is; the watch's thread accepts and closes them). Once a collective has waited `stall`
/// seconds, the thread connects to every rank on another machine; the ranks whose machine has not
/// answered within `answer` seconds are lost, and the thread prints the error.
///
/// It then leaves the ending to mpirun, which notices the lost machine by TCP keepalive (the
/// `oob_tcp_keepalive_*` settings of docs/cluster.md: 10 to 20 s) and ends the job. A rank that
/// exited at once would make it worse: mpirun would send the lost machine's daemon the order to
/// stop its ranks, and a connection with data unacknowledged waits for TCP's retransmissions
/// (about 15 minutes) instead of its keepalive. Only if the job is still running `grace` seconds
/// later (mpirun still reaches that machine: MPI's network failed, not the launcher's) does the
/// rank exit, with status 1. The thread calls no MPI: the main thread is inside it.
///
/// A slow rank, or one computing while the others wait, still answers, so it never counts as lost.
final class PeerWatch: @unchecked Sendable {
    /// How long a collective waits before the watch asks the other machines.
    static let stall = 2.0
    /// How long a machine may take to answer (on a working network it takes under a millisecond).
    static let answer = 2.0
    /// How long after its error the rank waits for mpirun to end the job before it exits.
    static let grace = 20.0

    /// When the main thread entered the collective it is in (monotonic nanoseconds), 0 if none.
    private let waitingSince = Atomic<UInt64>(0)
    private let stopped = Atomic<Bool>(false)
    private let listener: Int32
    /// Ranks on other machines whose names resolve, with the address to probe.
    private let watched: [(peer: Peer, address: sockaddr_in)]
    private let rank: Int
    private let size: Int

    /// A listening socket on an ephemeral port of every interface, for `start` to announce.
    /// - Throws: `MPIError` if the socket cannot be made.
    static func listen() throws -> (socket: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else {
            throw MPIError("the peer watch cannot open a socket: \(String(cString: strerror(errno)))")
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = INADDR_ANY
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && Glibc.listen(fd, 64) == 0
                    && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound, fcntl(fd, F_SETFL, O_NONBLOCK) == 0 else {
            let problem = String(cString: strerror(errno))
            close(fd)
            throw MPIError("the peer watch cannot listen on a port: \(problem)")
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    /// Starts watching `peers` (every rank, this one included) from rank `rank` listening on
    /// `listener`. Ranks on this machine are not watched (no network lies between them), nor are
    /// ranks whose machine's name does not resolve here.
    init(listener: Int32, rank: Int, peers: [Peer]) {
        self.listener = listener
        self.rank = rank
        size = peers.count
        let here = peers[rank].host
        watched = peers.filter { $0.host != here }.compactMap { peer in
            PeerWatch.resolve(peer.host).map { address in
                var address = address
                address.sin_port = peer.port.bigEndian
                return (peer, address)
            }
        }
        Thread.detachNewThread { [self] in run() }
    }

    /// The main thread enters a collective.
    @inline(__always) func enter() {
        waitingSince.store(max(1, DispatchTime.now().uptimeNanoseconds), ordering: .relaxed)
    }

    /// The main thread has left it.
    @inline(__always) func leave() { waitingSince.store(0, ordering: .relaxed) }

    /// Ends the watch (before `MPI_Finalize`, where ranks may wait for one another at will).
    func stop() {
        stopped.store(true, ordering: .relaxed)
        leave()
    }

    private func run() {
        var lastProbe: UInt64 = 0
        while !stopped.load(ordering: .relaxed) {
            var ready = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 500) > 0 {
                while case let connection = accept(listener, nil, nil), connection >= 0 { close(connection) }
            }
            let since = waitingSince.load(ordering: .relaxed)
            let now = DispatchTime.now().uptimeNanoseconds
            let stall = UInt64(PeerWatch.stall * 1e9)
            guard since != 0, now >= since + stall, now >= lastProbe + stall else { continue }
            lastProbe = now
            let lost = unanswered()
            // Still waiting in the same collective after the probe: these ranks are gone.
            guard !lost.isEmpty, waitingSince.load(ordering: .relaxed) == since,
                !stopped.load(ordering: .relaxed)
            else { continue }
            let waited = Double(DispatchTime.now().uptimeNanoseconds - since) / 1e9
            let line =
                "[rank \(rank) of \(size) ranks] Error: lost \(PeerWatch.describe(lost)): "
                + "its machine did not answer within \(Int(PeerWatch.answer)) s, while rank \(rank) "
                + "waited for it \(Int(waited)) s in a collective\n"
            FileHandle.standardError.write(Data(line.utf8))
            Thread.sleep(forTimeInterval: PeerWatch.grace)
            _exit(1)
        }
        close(listener)
    }

    /// The watched ranks that do not accept a connection within `answer` seconds.
    private func unanswered() -> [Peer] {
        var sockets: [Int32] = []
        defer { for fd in sockets where fd >= 0 { close(fd) } }
        var pending: [pollfd] = []
        var answered = Set<Int>()
        for (k, (_, address)) in watched.enumerated() {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            sockets.append(fd)
            guard fd >= 0, fcntl(fd, F_SETFL, O_NONBLOCK) == 0 else { continue }
            var target = address
            let result = withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if result == 0 {
                answered.insert(k)
            } else if errno == EINPROGRESS {
                pending.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0))
            }
        }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(PeerWatch.answer * 1e9)
        while !pending.isEmpty {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { break }
            guard poll(&pending, nfds_t(pending.count), Int32((deadline - now) / 1_000_000) + 1) > 0 else {
                continue
            }
            pending.removeAll { entry in
                guard entry.revents != 0 else { return false }
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &error, &length)
                if error == 0, let k = sockets.firstIndex(of: entry.fd) { answered.insert(k) }
                return true
            }
            for k in pending.indices { pending[k].revents = 0 }
        }
        return watched.enumerated().filter { !answered.contains($0.offset) }.map(\.element.peer)
    }

    /// "rank 1 on h2", "ranks 2, 3 on h2 and rank 5 on h3".
    static func describe(_ lost: [Peer]) -> String {
        var hosts: [String] = []
        var ranks: [String: [Int]] = [:]
        for peer in lost {
            if ranks[peer.host] == nil { hosts.append(peer.host) }
            ranks[peer.host, default: []].append(peer.rank)
        }
        return hosts.map { host in
            let list = ranks[host] ?? []
            return
                "\(list.count == 1 ? "rank" : "ranks") \(list.map(String.init).joined(separator: ", ")) on \(host)"
        }.joined(separator: " and ")
    }

    /// The first IPv4 address of `host`, or nil if the name does not resolve.
    private static func resolve(_ host: String) -> sockaddr_in? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        return first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
    }
}
