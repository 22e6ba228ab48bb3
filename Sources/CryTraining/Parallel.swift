import Foundation

/// Runs `body(0) ... body(n-1)` on n threads and waits for all of them.
func parallelFor(_ n: Int, _ body: @Sendable (Int) -> Void) {
    if n <= 1 {
        if n == 1 { body(0) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: n, execute: body)
}

/// Fixed slots that threads write at distinct indices; reading happens after all writers
/// have joined (`parallelFor` returns), which is the synchronisation that makes this safe.
/// Raw storage, not an Array, so that concurrent writes never touch a shared header.
final class ResultSlots<T>: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<T?>
    let count: Int

    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: max(1, count))
        storage.initialize(repeating: nil, count: count)
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    func set(_ index: Int, _ value: T) {
        precondition(index >= 0 && index < count)
        storage[index] = value
    }

    var values: [T?] { Array(UnsafeBufferPointer(start: storage, count: count)) }
}
