#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The capture thread asks for SCHED_FIFO so that a busy board does not starve it into
/// overruns. Without the privilege (no CAP_SYS_NICE, no RLIMIT_RTPRIO, or a unit with
/// RestrictRealtime=yes) the request fails and capture carries on at normal priority:
/// the ring buffer and overrun recovery are the safety net either way.
enum RealtimeScheduling {
    /// Low on purpose: above every normal thread, below the kernel's and audio servers' threads.
    static let capturePriority: Int32 = 10

    /// Tries SCHED_FIFO for the calling thread; returns a line saying what happened.
    @discardableResult
    static func requestForCurrentThread(priority: Int32 = capturePriority, logger: Logger) -> Bool {
        var param = sched_param()
        param.sched_priority = priority
        let result = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param)
        if result == 0 {
            logger.info("capture thread: real-time scheduling SCHED_FIFO, priority \(priority)")
            return true
        }
        let reason = String(cString: strerror(result))
        logger.notice("capture thread: real-time scheduling not permitted (\(reason)); capturing at normal priority")
        return false
    }
}
