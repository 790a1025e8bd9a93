import Foundation
import VAECore

/// Refuses, before anything is rendered, an output folder that cannot be created, a run's
/// checkpoints folder or one inside it, or a file in it that cannot be written (a folder of that name, say) or is
/// not one vae-render writes (a GIF, its loss curve) or is read-only or unreadable, as the other
/// tools refuse such an --out, so that a wrong --out costs nothing. Creates nothing: a render
/// that fails leaves no empty folder behind.
public func checkOutputs(_ fileNames: [String], in folder: String) throws {
    try checkFolderCanBeCreated(folder, what: "the output folder")
    try RunDirectory.checkNotInACheckpointsFolder(folder, flag: "--out")
    guard FileManager.default.fileExists(atPath: folder) else { return }
    for name in fileNames {
        let path = (folder as NSString).appendingPathComponent(name)
        try checkFileCanBeWritten(path)
        let (kind, start) = name.hasSuffix(".svg") ? ("a loss curve vae-render drew", lossCurveSVGStart) : ("a GIF", "GIF8")
        try checkReplacesOnly(kind, at: path, outputFolder: folder) { path in
            guard let file = FileHandle(forReadingAtPath: path) else { return false }
            defer { try? file.close() }
            return (try? file.read(upToCount: start.utf8.count)).map { Array($0) == Array(start.utf8) } ?? false
        }
    }
}

/// Writes the files into `folder` (created if needed) as one set: every file is written in full
/// beside its target (its path checked again: it may have become unwritable during the render)
/// before the first is renamed into place, so that a failure while writing, a full disk say,
/// leaves the earlier set whole, and no folder made for the set (a rename that fails part-way,
/// which takes the folder changing under the render, leaves those before it renamed); a Ctrl-C
/// waits until the set is written and `written` has been told the paths (to say so). Returns the
/// paths written.
@discardableResult
public func writeOutputs(_ files: [(name: String, bytes: [UInt8])], to folder: String,
                         written: ([String]) -> Void = { _ in }) throws -> [String] {
    let paths = files.map { (folder as NSString).appendingPathComponent($0.name) }
    try writingIntoFolder(folder, what: "the output folder") {
        try writeFilesAtomically(zip(files, paths).map { (bytes: $0.bytes, path: $1) })
        written(paths)
    }
    return paths
}
