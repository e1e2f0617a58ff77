import Foundation

/// How much more memory may be taken now, and what says so: the figure `MemoryEstimate` is
/// compared with before the trainer allocates.
public struct MemoryHeadroom: Sendable, Equatable {
    /// Who shares the headroom.
    public enum Scope: Sendable, Equatable {
        /// Every process on this machine (or in this cgroup) draws on it.
        case machine
        /// This process's own (its address-space limit).
        case process
    }

    public let bytes: Int
    /// What the figure comes from, as a user would look it up ("MemAvailable in /proc/meminfo").
    public let source: String
    public let scope: Scope

    public init(bytes: Int, source: String, scope: Scope) {
        self.bytes = bytes
        self.source = source
        self.scope = scope
    }

    /// Every limit that applies to this process now: the kernel's MemAvailable, each memory
    /// cgroup from this process's up to the root (v2 `memory.max`, v1 `memory.limit_in_bytes`;
    /// a limit less the usage, where the usage does not count the reclaimable inactive file
    /// cache, as the kernel's working set does not), and RLIMIT_AS less the address space in
    /// use. Empty where none can be read (no /proc).
    public static func current() -> [MemoryHeadroom] {
        var limit = rlimit()
        // rlim_t.max is RLIM_INFINITY, a macro Swift imports wrongly (as -1).
        let addressSpace: Int? =
            getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0 && limit.rlim_cur != rlim_t.max
            ? Int(clamping: limit.rlim_cur) : nil
        return read(addressSpaceLimit: addressSpace) { try? String(contentsOfFile: $0, encoding: .utf8) }
    }

    /// `current()` over the files `contents` gives (nil for a missing file), for tests.
    static func read(addressSpaceLimit: Int?, _ contents: (String) -> String?) -> [MemoryHeadroom] {
        var found: [MemoryHeadroom] = []
        if let meminfo = contents("/proc/meminfo"), let kB = value("MemAvailable:", in: meminfo) {
            found.append(
                MemoryHeadroom(bytes: kB * 1024, source: "MemAvailable in /proc/meminfo", scope: .machine))
        }
        if let membership = contents("/proc/self/cgroup") {
            for hierarchy in CgroupHierarchy.all {
                guard let path = hierarchy.path(in: membership) else { continue }
                found += hierarchy.headrooms(from: path, contents)
            }
        }
        if let addressSpaceLimit {
            let inUse =
                contents("/proc/self/status").flatMap { value("VmSize:", in: $0) }.map { $0 * 1024 } ?? 0
            found.append(
                MemoryHeadroom(
                    bytes: max(0, addressSpaceLimit - inUse),
                    source: "RLIMIT_AS (ulimit -v) less the address space in use",
                    scope: .process))
        }
        return found
    }

    /// The number after `key` and blanks on its line ("VmSize:\t  812 kB" gives 812).
    static func value(_ key: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            return line.dropFirst(key.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
                .flatMap { Int($0) }
        }
        return nil
    }
}

/// One way the kernel exposes memory cgroups: v2's unified hierarchy or v1's memory controller.
struct CgroupHierarchy {
    /// Where the hierarchy is mounted.
    let root: String
    /// Picks this hierarchy's line of /proc/self/cgroup ("0::/path" or "4:memory:/path").
    let matches: (Substring) -> Bool
    let limitFile: String
    let usageFile: String
    /// The memory.stat key of the inactive file cache, which the kernel reclaims before failing.
    let inactiveFileKey: String

    static let unified = CgroupHierarchy(
        root: "/sys/fs/cgroup", matches: { $0.isEmpty }, limitFile: "memory.max",
        usageFile: "memory.current", inactiveFileKey: "inactive_file")
    static let memoryV1 = CgroupHierarchy(
        root: "/sys/fs/cgroup/memory", matches: { $0.split(separator: ",").contains("memory") },
        limitFile: "memory.limit_in_bytes", usageFile: "memory.usage_in_bytes",
        inactiveFileKey: "total_inactive_file")
    static let all = [unified, memoryV1]

    /// The cgroup path of this process in this hierarchy, from /proc/self/cgroup's
    /// "id:controllers:path" lines.
    func path(in membership: String) -> String? {
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if fields.count == 3, matches(fields[1]) { return String(fields[2]) }
        }
        return nil
    }

    /// The headroom under every limit from the process's cgroup up to the hierarchy's root.
    /// Inside a container the mount's root is the container's own cgroup and the path from
    /// /proc/self/cgroup may not exist below it: then the walk starts at the root.
    func headrooms(from path: String, _ contents: (String) -> String?) -> [MemoryHeadroom] {
        var directory = root + (path == "/" ? "" : path)
        if contents(directory + "/" + usageFile) == nil { directory = root }
        var found: [MemoryHeadroom] = []
        while true {
            if let headroom = headroom(in: directory, contents) { found.append(headroom) }
            if directory.count <= root.count { break }
            directory = (directory as NSString).deletingLastPathComponent
        }
        return found
    }

    /// The headroom under one cgroup's limit, nil when it has none ("max", or v1's
    /// page-counter maximum, about 2^63).
    func headroom(in directory: String, _ contents: (String) -> String?) -> MemoryHeadroom? {
        guard let text = contents(directory + "/" + limitFile),
            let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit < 1 << 62,
            let usageText = contents(directory + "/" + usageFile),
            let usage = Int(usageText.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return nil }
        let inactive =
            contents(directory + "/memory.stat").flatMap {
                MemoryHeadroom.value(inactiveFileKey + " ", in: $0)
            } ?? 0
        return MemoryHeadroom(
            bytes: max(0, limit - max(0, usage - inactive)),
            source: "the cgroup limit \(directory)/\(limitFile)",
            scope: .machine)
    }
}
