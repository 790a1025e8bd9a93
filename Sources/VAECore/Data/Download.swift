import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension KMNIST {
    /// Refuses, before anything is fetched or read, a data folder that lacks files no download
    /// could give: a run's folder (`--data runs/NAME` by mistake), or the folder of a resumed `run`
    /// trained on other images than the official splits (a subset, as ../shared/kmnist holds),
    /// which only the folder it was trained on has.
    public static func checkMissingDataCanBeFetched(_ folder: String, resuming run: RunConfig?) throws {
        try checkNotAFile(folder)
        let missing = missingFiles(in: folder)
        guard !missing.isEmpty else { return }
        if RunDirectory(folder).holdsARun {
            throw VAEError(.missingInput, "\(folder) is a run folder of vae-train's, not a data folder: it lacks "
                           + "\(missing.joined(separator: ", ")); point --data or KMNIST_DIR at the KMNIST files")
        }
        if let run, run.trainImages != officialCounts.train || run.testImages != officialCounts.test {
            throw VAEError(.missingInput, "\(folder) lacks \(missing.joined(separator: ", ")), and the run was trained on "
                           + "\(run.trainImages) training and \(run.testImages) test images, not the official "
                           + "\(officialCounts.train) and \(officialCounts.test) a download brings; " + runDataAdvice)
        }
    }

    /// Fetches the files missing from `folder` from `baseURL` (the official site unless a mirror
    /// is given), checks each against its md5 in `expectedMD5` (by file name without .gz; the
    /// official ones unless a test's mirror has its own) before keeping it, and stores it
    /// atomically. A file longer than `sizeLimit` bytes (any IDX file we accept, by default) is
    /// refused as it arrives. `progress` receives (file, bytes so far, total bytes if known) as
    /// the bytes arrive, `stored` (file, bytes) once the file has passed its md5 and is saved.
    public static func download(missingFrom folder: String, baseURL: String = officialURL,
                                expectedMD5: [String: String] = officialMD5, sizeLimit: Int = maximumIDXFile,
                                stored: (String, Int) -> Void = { _, _ in },
                                progress: @escaping @Sendable (String, Int, Int?) -> Void) throws {
        // (A file named as the folder, a mistaken --data, is refused by checkMissingDataCanBeFetched first.)
        let missing = missingFiles(in: folder)
        if missing.isEmpty { return }
        // Checked first, created only once a file has arrived: a failed download leaves no folder.
        try checkFolderCanBeCreated(folder, what: "the data folder")
        let base = baseURL.hasSuffix("/") ? baseURL : baseURL + "/"
        // What a failed file leaves: the files still missing, and what to do about them.
        func stillLacking(_ remedy: String) -> String {
            "\(folder) still lacks \(missingFiles(in: folder).joined(separator: ", ")): \(remedy), or put the KMNIST files there by hand"
        }
        for name in missing {
            let url = base + name
            let bytes: [UInt8]
            do {
                bytes = try fetch(url, sizeLimit: sizeLimit, progress: { progress(name, $0, $1) })
            } catch let failure as VAEError where failure.kind == .missingInput {
                // The address alone does not say where the files were to go, or what else would do.
                throw VAEError(.missingInput, failure.message + "; "
                               + stillLacking(base == officialURL ? "try again" : "check --download-url"))
            }
            let digest = md5Hex(bytes)
            let file = String(name.dropLast(3))
            guard let expected = expectedMD5[file] else { preconditionFailure("no md5 given for \(file)") }
            guard digest == expected else {
                // Not "download them", which this just did: from the official site a second try
                // may do; a mirror's file stays what it is.
                let remedy = base == officialURL ? "try again (a transfer damaged on the way?)"
                    : "\(base) does not hold the official file: check --download-url"
                throw VAEError(.badData, "\(url): md5 is \(digest), expected \(expected); the file was not saved, and "
                               + stillLacking(remedy))
            }
            try writingIntoFolder(folder, what: "the data folder") { try writeFileAtomically(bytes, to: folder + "/" + name) }
            stored(name, bytes.count)
        }
    }

    private static func fetch(_ address: String, sizeLimit: Int, progress: @escaping @Sendable (Int, Int?) -> Void) throws -> [UInt8] {
        guard let url = URL(string: address) else {
            throw VAEError(.usage, "\(address) is not a valid URL (check --download-url)")
        }
        if url.isFileURL {
            // A local mirror; URLSession on Linux does not serve file URLs.
            let bytes = try readFile(url.path, atMost: sizeLimit)
            progress(bytes.count, bytes.count)
            return bytes
        }
        let task = DownloadTask(sizeLimit: sizeLimit, progress: progress)
        return try task.run(url)
    }
}

/// One blocking HTTP(S) GET that reports progress as data arrives, and stops as soon as the
/// response is longer than `sizeLimit` bytes: a server cannot fill the memory.
private final class DownloadTask: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let sizeLimit: Int
    private let progress: @Sendable (Int, Int?) -> Void
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var received: [UInt8] = []
    private var expected: Int?
    private var status = 0
    private var failure: Error?
    private var tooLong = false

    init(sizeLimit: Int, progress: @escaping @Sendable (Int, Int?) -> Void) {
        self.sizeLimit = sizeLimit
        self.progress = progress
    }

    func run(_ url: URL) throws -> [UInt8] {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 60
        let session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
        session.dataTask(with: url).resume()
        done.wait()
        session.finishTasksAndInvalidate()
        lock.lock()
        defer { lock.unlock() }
        if tooLong {
            throw VAEError(.badData, "\(url.absoluteString): more than \(sizeLimit) bytes, longer than any KMNIST file; "
                           + "the download was stopped")
        }
        // A status other than 200 cancelled the body.
        if status != 0 && status != 200 {
            throw VAEError(.missingInput, "cannot download \(url.absoluteString): HTTP status \(status)")
        }
        if let failure {
            throw VAEError(.missingInput, "cannot download \(url.absoluteString): \(failure.localizedDescription)")
        }
        // A server that sends no length (chunked) leaves the size unknown until the end: report
        // it once complete, as a file whose length was known reported its last bytes.
        if expected != received.count { progress(received.count, received.count) }
        return received
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        lock.lock()
        status = (response as? HTTPURLResponse)?.statusCode ?? 0
        expected = response.expectedContentLength > 0 ? Int(response.expectedContentLength) : nil
        tooLong = (expected ?? 0) > sizeLimit
        let disposition: URLSession.ResponseDisposition = tooLong || status != 200 ? .cancel : .allow
        lock.unlock()
        completionHandler(disposition)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.lock()
        // Cancelling may still deliver the start of a body: an error page is no file's progress.
        guard !tooLong && status == 200 else { return lock.unlock() }
        if received.count + data.count > sizeLimit {
            tooLong = true
            lock.unlock()
            return dataTask.cancel()
        }
        received.append(contentsOf: data)
        let (count, total) = (received.count, expected)
        lock.unlock()
        progress(count, total)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        lock.lock()
        failure = error
        lock.unlock()
        done.signal()
    }
}
