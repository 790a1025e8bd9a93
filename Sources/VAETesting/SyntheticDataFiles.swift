import Foundation
import VAECore

/// fixtures/synthetic holds the stand-in dataset under names of its own, in `KMNIST.files`
/// order, so that nothing in the repository passes for a KMNIST file.
public let syntheticFileNames = ["train-images.gz", "train-labels.gz", "test-images.gz", "test-labels.gz"]

/// `error` with the links `linkUnderKMNISTNames` made in `linked` named as the files of `folder`
/// they stand for: a damaged file is one of the fixtures, not of a temporary folder.
public func namingSyntheticFiles(_ error: VAEError, linked: String, folder: String) -> VAEError {
    var message = error.message
    for (stored, official) in zip(syntheticFileNames, KMNIST.files) {
        message = message.replacingOccurrences(of: linked + "/" + official.name + ".gz", with: folder + "/" + stored)
    }
    return VAEError(error.kind, message)
}

/// Makes `linked` a folder in which the `syntheticFileNames` of `folder` appear under the
/// official names, and returns it.
@discardableResult
public func linkUnderKMNISTNames(_ folder: String, into linked: String) throws -> String {
    // Else a link to nothing would be found missing later, under a name and in a folder of its own.
    if let missing = syntheticFileNames.first(where: { PathKind(folder + "/" + $0) != .file }) {
        throw VAEError(.missingInput, "\(folder)/\(missing) does not exist; vae-fixtures without --goldens-only makes the synthetic data")
    }
    try createFolders(linked, what: "the folder of links to the synthetic data")
    let folder = URL(fileURLWithPath: folder).path  // links need an absolute target
    for (stored, official) in zip(syntheticFileNames, KMNIST.files) {
        let link = linked + "/" + official.name + ".gz"
        guard symlink(folder + "/" + stored, link) == 0 else {
            throw VAEError(.cannotWrite, "cannot make the link \(link): \(systemErrorText())")
        }
    }
    return linked
}
