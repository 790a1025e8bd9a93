// The quality classifier's file (vae-classifier --out): a safetensors file of its tensors, one
// of the formats of docs/checkpoint-format.md.

public let classifierFormat = "kmnist-vae-classifier/1"

/// Writes the classifier's tensors with `metadata` (and the format) atomically to `path`.
public func writeClassifier(_ classifier: Classifier, metadata: [String: String], to path: String) throws {
    var metadata = metadata
    metadata["format"] = classifierFormat
    try writeSafetensors(safetensorsEntries(classifier.tensors, of: classifier.parameters), metadata: metadata, to: path)
}

/// Reads a classifier `writeClassifier` wrote, checking its format and every tensor's shape.
public func readClassifier(_ path: String) throws -> (classifier: Classifier, metadata: [String: String]) {
    let file = try readSafetensors(path)
    try file.checkFormat(classifierFormat, kind: "classifier", advice: "; make one with vae-classifier")
    let classifier = Classifier()
    try file.checkParameters(classifier.tensors, owner: "the classifier")
    try file.copyParameters(classifier.tensors, into: classifier.parameters.pointer)
    return (classifier, file.metadata)
}
