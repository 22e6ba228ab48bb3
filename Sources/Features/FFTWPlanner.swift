#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// FFTW's planner (plan creation and destruction) is not thread-safe; only `fftwf_execute`
/// is. Every FFTW plan in the process must be made and destroyed inside `withLock`, so that
/// extractors created on different threads (daemon capture thread, training workers) do
/// not corrupt the planner's shared state. Code outside Features that plans FFTs uses this
/// same lock.
public enum FFTWPlanner {
    public static func withLock<T>(_ body: () throws -> T) rethrows -> T {
        plannerLock.lock()
        defer { plannerLock.unlock() }
        return try body()
    }
}

/// A process-wide pthread mutex. `@unchecked Sendable` because the only state is the mutex
/// itself, heap-allocated once (never moved, never freed) and touched only via
/// pthread_mutex_lock/unlock, which are thread-safe by definition. (The Synchronization
/// module's `Mutex` would do, but needs macOS 15 where the package declares macOS 13.)
private final class PlannerLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
}

private let plannerLock = PlannerLock()
