import Foundation
import Testing
import Synchronization
import TestSupport
import VAECore
import VAETesting

/// The md5 of each of the synthetic data's files, by name, for a download from it to check.
private func syntheticDataMD5s() throws -> [String: String] {
    Dictionary(uniqueKeysWithValues: try KMNIST.files.map { ($0.name, md5Hex(try readFile(syntheticData + "/" + $0.name + ".gz"))) })
}

/// A tiny run of `train` and `test` images, for what its record of the data decides.
private func tinyRun(train: Int = 4, test: Int = 4, binarization: Binarization = .none) -> RunConfig {
    RunConfig(model: VAEConfig(hidden: [8], latentDim: 2), epochs: 1, batchSize: 4, learningRate: 1e-3, seed: 1, preset: "mlp",
              trainImages: train, testImages: test, binarization: binarization)
}

private func expectBadData(_ folder: String, _ file: String, _ problem: String, kind: VAEError.Kind = .badData) {
    do {
        _ = try KMNIST.load(from: folder)
        Issue.record("loading \(folder) should fail with: \(problem)")
    } catch let error as VAEError {
        #expect(error.kind == kind)
        #expect(error.message.contains(file), "message should name \(file): \(error.message)")
        #expect(error.message.contains(problem), "message should say \(problem): \(error.message)")
        #expect(!error.message.contains("\n"))
    } catch {
        Issue.record("unexpected error \(error)")
    }
}

/// A folder with a valid 20-image train split and 10-image test split; the test removes it.
private func validFolder(raw: Bool = false, _ name: String = #function) -> String {
    let folder = temporaryFolder(name)
    writeSplit(syntheticImageSet(count: 20, seed: 1), split: "train", in: folder, raw: raw)
    writeSplit(syntheticImageSet(count: 10, seed: 2), split: "t10k", in: folder, raw: raw)
    return folder
}

@Test(arguments: [false, true])
func validFilesLoadGzipOrRaw(raw: Bool) throws {
    let folder = validFolder(raw: raw)
    defer { removeTemporaryFolder(folder) }
    let data = try KMNIST.load(from: folder)
    #expect(data.train.count == 20 && data.test.count == 10)
    expectIdentical(data.train.pixels, syntheticImageSet(count: 20, seed: 1).pixels, "training pixels")
    expectIdentical(data.test.labels, syntheticImageSet(count: 10, seed: 2).labels, "test labels")
}

/// Where a file is there both gzipped and raw (`gunzip -k`, or a raw copy of other images beside
/// a download), the .gz is read, as --data's help says.
@Test func theGzipFileIsReadWhereBothAreThere() throws {
    let folder = validFolder()
    defer { removeTemporaryFolder(folder) }
    writeSplit(syntheticImageSet(count: 30, seed: 5), split: "train", in: folder, raw: true)
    let data = try KMNIST.load(from: folder)
    #expect(data.train.count == 20)
    expectIdentical(data.train.pixels, syntheticImageSet(count: 20, seed: 1).pixels, "training pixels")
}

/// Any copy of KMNIST (the official files or the development copy): the official test split,
/// whose gzip files, where kept, have the md5s a download is checked against.
@Test(.needsRealKMNIST) func kmnistTestSplitHasTenThousandImagesAThousandPerClass() throws {
    let folder = try RealKMNIST.requireFolder()
    let test = try KMNIST.load(from: folder).test
    #expect(test.count == 10000)
    var classes = [Int](repeating: 0, count: 10)
    for label in test.labels { classes[Int(label)] += 1 }
    #expect(classes == [Int](repeating: 1000, count: 10))
    for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] where PathKind("\(folder)/\(name).gz") == .file {
        #expect(md5Hex(try readFile("\(folder)/\(name).gz")) == KMNIST.officialMD5[name], "\(name).gz")
    }
}

/// The copy in ../shared/kmnist holds the first 7,011 official training images, with the class
/// counts its README gives.
@Test(.needsSharedKMNISTCopy) func sharedKMNISTHasTheDocumentedCounts() throws {
    let data = try KMNIST.load(from: RealKMNIST.requireFolder())
    #expect(data.train.count == 7011)
    var classes = [Int](repeating: 0, count: 10)
    for label in data.train.labels { classes[Int(label)] += 1 }
    #expect(classes == [690, 690, 695, 702, 757, 708, 688, 708, 672, 701])
}

/// The md5s a download is checked against are the official ones, as the shared copy's README
/// quotes them from the dataset's maintainers: a wrong one refuses every download of that file,
/// and the shared copy holds no official training file to catch it otherwise.
@Test(.needsSharedKMNISTCopy) func officialMD5sAreTheOnesTheDatasetPublishes() throws {
    let readme = try String(contentsOfFile: RealKMNIST.requireFolder() + "/README.md", encoding: .utf8)
    let official = try #require(readme.components(separatedBy: "Official files and md5 sums").dropFirst().first)
    var published: [String: String] = [:]
    for line in official.split(separator: "\n") {
        let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        if cells.count == 2, cells[0].hasSuffix("-ubyte.gz"), cells[1].count == 32 { published[String(cells[0].dropLast(3))] = cells[1] }
    }
    #expect(published.count == 4, "\(published)")
    #expect(KMNIST.officialMD5 == published)
}

/// The same four md5s written out, so that a clone without the shared copy checks them too.
@Test func officialMD5sAreTheFourPublished() {
    #expect(KMNIST.officialMD5 == ["train-images-idx3-ubyte": "bdb82020997e1d708af4cf47b453dcf7",
                                   "train-labels-idx1-ubyte": "e144d726b3acfaa3e44228e80efcd344",
                                   "t10k-images-idx3-ubyte": "5c965bf0a639b31b8f53240b1b52f4d7",
                                   "t10k-labels-idx1-ubyte": "7320c461ea6c1c855c0b718fb2a4b134"])
}

/// A file larger than any of its kind is refused by its size, before a byte of it is read: here a
/// sparse training-images file of 2 GB, which would otherwise be allocated and read whole.
@Test func aFileLargerThanAnyOfItsKindIsRefusedUnread() throws {
    let folder = validFolder(raw: true)
    defer { removeTemporaryFolder(folder) }
    let images = folder + "/train-images-idx3-ubyte"
    #expect(truncate(images, 2_000_000_000) == 0)
    expectBadData(folder, images, String(format: "it holds 2000.0 MB, and no file of its kind holds more than %.1f MB",
                                         Double(maximumIDXFile) / 1e6))
    write([UInt8](repeating: 7, count: 11), to: folder + "/eleven")
    #expect(try readFile(folder + "/eleven", atMost: 11) == [UInt8](repeating: 7, count: 11))
    #expect(throws: VAEError(.badData, "cannot read \(folder)/eleven: it holds 0.0 MB, and no file of its kind holds more than 0.0 MB")) {
        try readFile(folder + "/eleven", atMost: 10)
    }
}

/// Only regular files are read: a FIFO in place of a data file would wait for a writer for ever,
/// a device such as /dev/zero never end, and a folder holds no bytes. Each is one line at once.
@Test func onlyRegularFilesAreRead() throws {
    let folder = validFolder(raw: true)
    defer { removeTemporaryFolder(folder) }
    let labels = folder + "/t10k-labels-idx1-ubyte"
    unlink(labels)
    try #require(mkfifo(labels, 0o600) == 0)
    expectBadData(folder, labels, "it is not a regular file (a FIFO, a socket or a device)")
    #expect(throws: VAEError(.badData, "cannot read /dev/zero: it is not a regular file (a FIFO, a socket or a device)")) {
        try readFile("/dev/zero", atMost: 10)
    }
    #expect(throws: VAEError(.missingInput, "cannot read \(folder): it is a folder")) { try readFile(folder, atMost: 10) }
    // A path through a file taken for a folder is an input that does not exist, as a missing one is.
    let under = folder + "/train-images-idx3-ubyte/metrics.jsonl"
    #expect(throws: VAEError(.missingInput, "cannot open \(under): Not a directory")) { try readFile(under, atMost: 10) }
    // A link to nothing is named as such, since a listing shows it.
    try FileManager.default.createSymbolicLink(atPath: folder + "/dangling", withDestinationPath: folder + "/gone")
    #expect(throws: VAEError(.missingInput, "cannot open \(folder)/dangling: it is a symbolic link to \(folder)/gone, which does not exist")) {
        try readFile(folder + "/dangling", atMost: 10)
    }
}

/// A split's MD5, which a run records, covers its pixels and then its labels (the values from
/// Python's hashlib): other images or other labels of the same count give another digest.
@Test func anImageSetsMD5IsThatOfItsPixelsThenItsLabels() {
    #expect(ImageSet(pixels: [UInt8](repeating: 0, count: 784), labels: [3]).md5 == "5663ab2684cb6adfba836a5878124d25")
    let ramp = (0..<2 * 784).map { UInt8($0 % 784 % 256) }
    #expect(ImageSet(pixels: ramp, labels: [1, 2]).md5 != ImageSet(pixels: ramp, labels: [2, 1]).md5)
    #expect(md5Hex(Array(ramp[..<784]) + [1, 2]) == "952e5e4d3b4dffc70b938009c16eb772")
    #expect(md5Hex(Array(ramp[..<700]), Array(ramp[700..<784]), [1], [2]) == "952e5e4d3b4dffc70b938009c16eb772")
}

@Test func missingFilesAreNamedWithWhereToPutThem() {
    let folder = validFolder()
    defer { removeTemporaryFolder(folder) }
    unlink(folder + "/t10k-labels-idx1-ubyte.gz")
    expectBadData(folder, "t10k-labels-idx1-ubyte.gz", "download them from", kind: .missingInput)
}

@Test func notGzip() {
    let folder = validFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/train-images-idx3-ubyte.gz"
    write(encodeIDX(magic: idxImagesMagic, dimensions: [20, 28, 28], payload: syntheticImageSet(count: 20, seed: 1).pixels), to: path)
    expectBadData(folder, path, "not a gzip file")
}

@Test(arguments: [0.25, 0.5, 0.99])
func truncatedGzip(fraction: Double) throws {
    let folder = validFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/train-images-idx3-ubyte.gz"
    let bytes = try readFile(path)
    write(Array(bytes[..<Int(Double(bytes.count) * fraction)]), to: path)
    expectBadData(folder, path, "truncated gzip")
}

/// Gzip members written one after another read as one file, as gzip(1) reads them; bytes after
/// the last member that start no other are refused, and so is a truncated second member.
@Test func concatenatedGzipMembersAreOneFile() throws {
    let folder = validFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/train-images-idx3-ubyte.gz"
    let images = syntheticImageSet(count: 20, seed: 1)
    let idx = encodeIDX(magic: idxImagesMagic, dimensions: [20, 28, 28], payload: images.pixels)
    // Cut inside the header, in the payload, and an empty last member.
    let members = [idx[..<6], idx[6..<9000], idx[9000...], []].map { gzipCompress(Array($0)) }
    write(members.flatMap { $0 }, to: path)
    expectIdentical(try KMNIST.load(from: folder).train.pixels, images.pixels, "pixels read from four members")

    for (trailing, said) in [(1, "1 byte"), (3, "3 bytes")] {
        write(gzipCompress(idx) + [UInt8](repeating: 0, count: trailing), to: path)
        expectBadData(folder, path, "\(said) of trailing data after the gzip data")
    }
    write(members[0] + members[1] + members[2].dropLast(8), to: path)
    expectBadData(folder, path, "truncated gzip")
}

/// Compressing in pieces gives the very bytes of compressing their concatenation, past the
/// 1 MB output chunk (random bytes barely compress), and the file reads back.
@Test func gzipOfPiecesIsGzipOfTheirConcatenation() throws {
    var random = Random(seed: 8)
    let side = VAEConfig.imageSide, count = 3_000
    let pixels = (0..<count * side * side).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    let header = idxHeader(magic: idxImagesMagic, dimensions: [count, side, side])
    #expect(header == [0, 0, 8, 3, 0, 0, 0x0b, 0xb8, 0, 0, 0, 28, 0, 0, 0, 28])
    let whole = gzipCompress(header + pixels)
    #expect(whole.count > 1 << 21, "the output spans several chunks")
    let empty: [UInt8] = []
    let pieces = header.withUnsafeBytes { header in
        pixels.withUnsafeBytes { pixels in empty.withUnsafeBytes { gzipCompress(pieces: [header, $0, pixels]) } }
    }
    expectIdentical(pieces, whole, "three pieces against one")
    #expect(gzipCompress(pieces: []) == gzipCompress([]))
    let folder = temporaryFolder()
    defer { removeTemporaryFolder(folder) }
    write(pieces, to: folder + "/samples.idx.gz")
    let read = try readIDX(folder + "/samples.idx.gz", magic: idxImagesMagic)
    #expect(read.dimensions == [count, side, side])
    expectIdentical(read.payload, pixels, "the pixels read back")
}

@Test func wrongMagic() {
    let folder = validFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/train-labels-idx1-ubyte.gz"
    write(gzipCompress(encodeIDX(magic: 0x0000_0802, dimensions: [20, 1], payload: [UInt8](repeating: 1, count: 20))), to: path)
    expectBadData(folder, path, "wrong magic number 0x00000802, expected 0x00000801")
}

@Test func imagesThatAreNot28x28() {
    let folder = validFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/t10k-images-idx3-ubyte.gz"
    // Either side wrong, or both.
    for (height, width) in [(32, 32), (28, 32), (32, 28)] {
        write(gzipCompress(encodeIDX(magic: idxImagesMagic, dimensions: [10, height, width],
                                     payload: [UInt8](repeating: 0, count: 10 * height * width))), to: path)
        expectBadData(folder, path, "images are 10x\(height)x\(width), expected Nx28x28")
    }
}

@Test(arguments: [false, true])
func payloadShorterThanTheHeaderSays(raw: Bool) {
    let folder = validFolder(raw: raw)
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/train-images-idx3-ubyte" + (raw ? "" : ".gz")
    let bytes = encodeIDX(magic: idxImagesMagic, dimensions: [21, 28, 28], payload: syntheticImageSet(count: 20, seed: 1).pixels)
    write(raw ? bytes : gzipCompress(bytes), to: path)
    expectBadData(folder, path, "shorter than the header says")
}

@Test(arguments: [false, true])
func payloadLongerThanTheHeaderSays(raw: Bool) {
    let folder = validFolder(raw: raw)
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/train-labels-idx1-ubyte" + (raw ? "" : ".gz")
    let bytes = encodeIDX(magic: idxLabelsMagic, dimensions: [20], payload: [UInt8](repeating: 3, count: 21))
    write(raw ? bytes : gzipCompress(bytes), to: path)
    expectBadData(folder, path, "longer than the header says")
}

/// A split of no images is refused, not evaluated as 0 nats or 0% over nothing.
@Test(arguments: ["train", "t10k"])
func aSplitWithoutImages(split: String) {
    let folder = validFolder(split)
    defer { removeTemporaryFolder(folder) }
    let (images, _) = writeSplit(ImageSet(pixels: [], labels: []), split: split, in: folder)
    expectBadData(folder, images, "holds no images (its header says 0)")
}

@Test func imageAndLabelCountsDiffer() {
    let folder = validFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/train-labels-idx1-ubyte.gz"
    write(gzipCompress(encodeIDX(magic: idxLabelsMagic, dimensions: [19], payload: [UInt8](repeating: 3, count: 19))), to: path)
    expectBadData(folder, path, "19 labels but \(folder)/train-images-idx3-ubyte.gz holds 20 images")
}

/// 10, the first label past the classes, would index past a one-hot row and the palette.
@Test(arguments: [10, 12, 255])
func labelAboveNine(label: UInt8) {
    let folder = validFolder()
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/t10k-labels-idx1-ubyte.gz"
    var labels = [UInt8](repeating: 9, count: 10)
    labels[7] = label
    write(gzipCompress(encodeIDX(magic: idxLabelsMagic, dimensions: [10], payload: labels)), to: path)
    expectBadData(folder, path, "label \(label) of image 7 is not a class 0-9")
}

/// A header that claims 4 billion images is refused from the file size alone, before any allocation.
@Test(arguments: [false, true])
func headerClaimingBillionsOfImages(raw: Bool) {
    let folder = validFolder(raw: raw)
    defer { removeTemporaryFolder(folder) }
    let path = folder + "/train-images-idx3-ubyte" + (raw ? "" : ".gz")
    let bytes = encodeIDX(magic: idxImagesMagic, dimensions: [4_000_000_000, 28, 28], payload: [UInt8](repeating: 0, count: 784))
    write(raw ? bytes : gzipCompress(bytes), to: path)
    expectBadData(folder, path, "header dimensions [4000000000, 28, 28] describe more than")
    let modest = encodeIDX(magic: idxImagesMagic, dimensions: [1_000_000, 28, 28], payload: [UInt8](repeating: 0, count: 784))
    write(raw ? modest : gzipCompress(modest), to: path)
    expectBadData(folder, path, raw ? "shorter than the header says" : "the file can hold at most")
    // 78,400 bytes announced by 38 bytes of gzip: beyond deflate's 1032:1, refused before allocating.
    let hundred = encodeIDX(magic: idxImagesMagic, dimensions: [100, 28, 28], payload: [UInt8](repeating: 0, count: 784))
    write(raw ? hundred : gzipCompress(hundred), to: path)
    expectBadData(folder, path, raw ? "shorter than the header says" : "the file can hold at most")
}

@Test func dataFolderComesFromFlagThenEnvironmentThenDefault() {
    #expect(KMNIST.folder(flag: "x", environment: ["KMNIST_DIR": "y"]) == "x")
    #expect(KMNIST.folder(flag: nil, environment: ["KMNIST_DIR": "y"]) == "y")
    #expect(KMNIST.folder(flag: nil, environment: [:]) == "data/kmnist")
}

/// Downloads from a local mirror of the synthetic fixtures (a file URL; tests never use the
/// network), checked against the fixtures' own md5s: a file already there is kept, the missing
/// ones arrive byte for byte; a file whose md5 is not the expected one is refused and not saved,
/// and by default the expected md5s are the official ones. A download that fails leaves no
/// folder behind.
@Test func downloadChecksEveryFileAgainstItsMD5() throws {
    let mirror = URL(fileURLWithPath: syntheticData).absoluteString
    let fixtureMD5 = try syntheticDataMD5s()
    #expect(Set(fixtureMD5.values).count == 4)

    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let target = scratch + "/target"
    try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
    let kept = target + "/train-images-idx3-ubyte.gz"
    write([1, 2, 3], to: kept)
    // Each file is reported stored once it is saved, with its size.
    var stored: [String] = []
    func record(_ folder: String) -> (String, Int) -> Void {
        { name, bytes in
            stored.append("\(name) \(bytes)")
            #expect((try? readFile(folder + "/" + name))?.count == bytes, "\(name) is not saved when reported")
        }
    }
    try KMNIST.download(missingFrom: target, baseURL: mirror, expectedMD5: fixtureMD5, stored: record(target)) { _, _, _ in }
    #expect(stored == KMNIST.files.dropFirst().map { "\($0.name).gz \(try! readFile(syntheticData + "/" + $0.name + ".gz").count)" })
    #expect(try readFile(kept) == [1, 2, 3])
    for file in KMNIST.files.dropFirst() {
        expectIdentical(try readFile(target + "/" + file.name + ".gz"), try readFile(syntheticData + "/" + file.name + ".gz"),
                        "downloaded \(file.name)")
    }

    var wrong = fixtureMD5
    wrong["t10k-images-idx3-ubyte"] = KMNIST.officialMD5["t10k-images-idx3-ubyte"]
    let refused = scratch + "/refused"
    do {
        stored = []
        try KMNIST.download(missingFrom: refused, baseURL: mirror, expectedMD5: wrong, stored: record(refused)) { _, _, _ in }
        Issue.record("a file with another md5 must be refused")
    } catch let error as VAEError {
        // The training files arrived before it: only the test files are still missing.
        #expect(error.message == mirror + "t10k-images-idx3-ubyte.gz: md5 is \(fixtureMD5["t10k-images-idx3-ubyte"]!), "
                 + "expected 5c965bf0a639b31b8f53240b1b52f4d7; the file was not saved, and \(refused) still lacks "
                 + "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz: \(mirror) does not hold the official file: check "
                 + "--download-url, or put the KMNIST files there by hand")
        #expect(!FileManager.default.fileExists(atPath: refused + "/t10k-images-idx3-ubyte.gz"))
        #expect(!FileManager.default.fileExists(atPath: refused + "/t10k-labels-idx1-ubyte.gz"))
        #expect(stored.map { $0.prefix { $0 != " " } } == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"], "\(stored)")
    }

    let official = scratch + "/official"
    do {
        try KMNIST.download(missingFrom: official, baseURL: mirror) { _, _, _ in }
        Issue.record("the fixtures must fail the official md5s")
    } catch let error as VAEError {
        #expect(error.message.contains("md5 is \(fixtureMD5["train-images-idx3-ubyte"]!), expected bdb82020997e1d708af4cf47b453dcf7"),
                "\(error.message)")
        #expect(!FileManager.default.fileExists(atPath: official), "no file arrived, so no folder either")
    }
    // A file where the folder would go: refused before anything is fetched.
    write([0], to: scratch + "/file")
    #expect(throws: VAEError(.cannotWrite, "cannot create the data folder \(scratch)/file/kmnist: Not a directory")) {
        try KMNIST.download(missingFrom: scratch + "/file/kmnist", baseURL: mirror, expectedMD5: fixtureMD5) { _, _, _ in
            Issue.record("nothing may be fetched")
        }
    }
}

/// A download longer than the size limit is stopped as it arrives, whether the server announces
/// its length (refused at the headers) or sends it in chunks (refused once past the limit), and
/// nothing is saved; within the limit the same files arrive whole. (In this process, so through
/// whatever proxy its environment names: none in CI; the tools the tests start have theirs set to
/// the loopback, see ChildProcess.)
@Test(arguments: [false, true])
func aDownloadLongerThanTheLimitIsStopped(chunked: Bool) throws {
    let fixtureMD5 = try syntheticDataMD5s()
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let (server, port) = try startFileServer(serving: syntheticData, in: scratch, chunked: chunked)
    defer { server.stop() }
    let mirror = "http://127.0.0.1:\(port)/"
    let longest = try KMNIST.files.map { try readFile(syntheticData + "/" + $0.name + ".gz").count }.max()!
    let limit = longest - 1
    let stopped = scratch + "/stopped"
    // The reports of bytes received, in the order they came.
    let reports = Mutex<[Int]>([])
    do {
        try KMNIST.download(missingFrom: stopped, baseURL: mirror, expectedMD5: fixtureMD5, sizeLimit: limit) { _, received, _ in
            reports.withLock { $0.append(received) }
        }
        Issue.record("a file of \(longest) bytes must be refused at a limit of \(limit)")
    } catch let error as VAEError {
        #expect(error.kind == .badData)
        #expect(error.message.hasSuffix(": more than \(limit) bytes, longer than any KMNIST file; the download was stopped"),
                "\(error.message)")
    }
    // The longest file comes first: announced, none of it is read; in chunks, up to the limit.
    try #require(KMNIST.files.map { try readFile(syntheticData + "/" + $0.name + ".gz").count }.first == longest)
    let received = reports.withLock { $0 }
    #expect(chunked ? !received.isEmpty && received.allSatisfy { $0 <= limit } : received.isEmpty, "\(received)")
    #expect(!FileManager.default.fileExists(atPath: stopped + "/train-images-idx3-ubyte.gz"))
    let whole = scratch + "/whole"
    try KMNIST.download(missingFrom: whole, baseURL: mirror, expectedMD5: fixtureMD5, sizeLimit: longest) { _, _, _ in }
    for file in KMNIST.files {
        expectIdentical(try readFile(whole + "/" + file.name + ".gz"), try readFile(syntheticData + "/" + file.name + ".gz"), file.name)
    }
}

/// A mirror that lacks a file (HTTP 404), or a server that is not there, is named with the URL
/// and the reason, as missing input, and nothing is saved: the data folder is not even made. The
/// server's error page is no progress of the file's.
@Test func aDownloadThatFailsNamesTheURLAndSavesNothing() throws {
    let scratch = temporaryFolder(), empty = temporaryFolder()
    defer { removeTemporaryFolder(scratch); removeTemporaryFolder(empty) }
    let (server, port) = try startFileServer(serving: empty, in: scratch, chunked: false)
    defer { server.stop() }
    let folder = scratch + "/kmnist"
    // Port 1 on the loopback: nothing listens there, and only root could.
    for (mirror, reason) in [("http://127.0.0.1:\(port)/", "HTTP status 404"), ("http://127.0.0.1:1/", "connect")] {
        // Progress arrives on URLSession's thread, outside the test: gathered, then checked here.
        let reported = Mutex<[String]>([])
        // A mirror's missing file is no reason to try again: the mirror is what to check.
        expectVAEError(.missingInput, containing: ["cannot download \(mirror)train-images-idx3-ubyte.gz: ", reason,
                                                   "; \(folder) still lacks train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                                                   + "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz: check --download-url, or put "
                                                   + "the KMNIST files there by hand"]) {
            try KMNIST.download(missingFrom: folder, baseURL: mirror) { name, received, _ in
                reported.withLock { $0.append("\(received) bytes of \(name)") }
            }
        }
        #expect(reported.withLock { $0 }.isEmpty, "progress reported: \(reported.withLock { $0 })")
        #expect(!FileManager.default.fileExists(atPath: folder))
    }
}

/// A gzip bomb: 4 MiB that would inflate to 4.3 GB, starting with an IDX header that announces 10
/// labels. A stored block holds the header; then one dynamic Huffman block whose only codes are
/// literal 0 (2 bits), end of block (2 bits), length 258 (1 bit) and distance 1 (1 bit), so each
/// zero byte of its body repeats the last zero 4 x 258 = 1032 times. The last byte holds a length
/// followed by the one distance code the block lacks, which zlib refuses ("invalid distance
/// code"), 4.3 GB in: a reader that inflates any further than the header's size plus one byte
/// reports corrupt data (after seconds) instead of the surplus, without a clock in the test.
@Test func gzipBombIsReadOnlyOneBytePastThePayload() throws {
    func gzipBomb(labels: Int, bodyBytes: Int) -> [UInt8] {
        let gzipHeader: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]
        let storedIDXHeader: [UInt8] = [0, 8, 0, 0xf7, 0xff] + encodeIDX(magic: idxLabelsMagic, dimensions: [labels], payload: [])
        // The block header and code tables, literal 0 and two (258, 1) matches: 112 bits exactly.
        let bombStart: [UInt8] = [0xec, 0xc0, 0x01, 0x09, 0x00, 0x00, 0x00, 0x80, 0xa0, 0xfe, 0xaf, 0xee, 0x88, 0x06]
        let lengthThenInvalidDistance: [UInt8] = [0x02]
        return gzipHeader + storedIDXHeader + bombStart + [UInt8](repeating: 0, count: bodyBytes) + lengthThenInvalidDistance
    }
    #expect(throws: VAEError(.badData, "bomb.gz: data is longer than the header says (more than 10 bytes after the header)")) {
        try parseIDX(gzipBomb(labels: 10, bodyBytes: 4 << 20), path: "bomb.gz", magic: idxLabelsMagic)
    }
    // Without a body, the block inflates to 1 + 2 x 258 = 517 zeros: a header announcing all of
    // them makes the reader reach the invalid code, as any reader that went on past 10 would.
    #expect(throws: VAEError(.badData, "bomb.gz: corrupt gzip data (invalid distance code)")) {
        try parseIDX(gzipBomb(labels: 517, bodyBytes: 0), path: "bomb.gz", magic: idxLabelsMagic)
    }
}

/// Batches cover every item once, in order, all full but the last.
@Test(arguments: [(0, 128, [(Int, Int)]()), (1, 128, [(0, 1)]), (128, 128, [(0, 128)]), (129, 128, [(0, 128), (128, 1)]),
                  (7011, 1000, (0..<7).map { ($0 * 1000, 1000) } + [(7000, 11)])])
func batchesCoverEveryItemOnceInOrder(count: Int, size: Int, expected: [(Int, Int)]) {
    let batches = Batches(count: count, size: size)
    #expect(batches.count == expected.count)
    #expect(batches.map { [$0.first, $0.rows] } == expected.map { [$0.0, $0.1] })
}

/// A training state's item count is read from a file: counting its batches must not overflow.
@Test func batchesCountTheLargestCountsWithoutOverflow() {
    #expect(Batches(count: Int.max, size: 1_000_000).count == Int.max / 1_000_000 + 1)
    #expect(Batches(count: Int.max, size: 1).count == Int.max)
    #expect(Batches(count: Int.max - 1, size: 2).count == Int.max / 2)
}

/// The images picked by index, in the order asked, repeats included, each pixel as its intensity.
@Test func intensitiesAtIndicesFollowTheIndices() {
    let images = ImageSet(pixels: (0..<3).flatMap { [UInt8](repeating: UInt8(100 * $0 + 1), count: 784) }, labels: [0, 1, 2])
    let picked = images.intensities(at: [2, 0, 2])
    #expect(picked.count == 3 * 784)
    #expect(picked == [201, 1, 201].flatMap { [Float](repeating: intensity($0), count: 784) })
    #expect(images.intensities(at: [0, 1, 2]) == images.intensities)
}

/// An intensity back to its pixel byte: the nearest, clamped, NaN as 0 (which UInt8() traps on).
@Test func pixelBytesAreTheNearestClampedIntensity() {
    #expect([-1, 0, 0.5 / 255, 0.6 / 255, 0.5, 254.4 / 255, 1, 2, .infinity, -.infinity, .nan].map(pixelByte)
            == [0, 0, 1, 1, 128, 254, 255, 255, 255, 0, 0])
    #expect((0...255).allSatisfy { pixelByte(intensity(UInt8($0))) == UInt8($0) })
}

// MARK: - What IDX errors say, word for word

/// Each refusal of an IDX file says what the file is, where it stopped, and how much it held of
/// how much, the right way round: a reader fixes the file by these numbers.
@Test func idxErrorsNameTheKindAndCountTheBytesTheRightWayRound() {
    let images = syntheticImageSet(count: 20, seed: 1)
    // A labels file that starts as an images file, and the other way round: each names what was expected.
    let asImages = encodeIDX(magic: idxImagesMagic, dimensions: [20, 28, 28], payload: images.pixels)
    #expect(throws: VAEError(.badData, "l: wrong magic number 0x00000803, expected 0x00000801 (IDX labels of unsigned bytes)")) {
        try parseIDX(asImages, path: "l", magic: idxLabelsMagic)
    }
    let asLabels = encodeIDX(magic: idxLabelsMagic, dimensions: [20], payload: images.labels)
    #expect(throws: VAEError(.badData, "i: wrong magic number 0x00000801, expected 0x00000803 (IDX images of unsigned bytes)")) {
        try parseIDX(asLabels, path: "i", magic: idxImagesMagic)
    }
    // Dimensions are numbered from 1, as the IDX format describes them.
    #expect(throws: VAEError(.badData, "i: file ends inside the IDX header (dimension 1)")) {
        try parseIDX(Array(asImages[..<6]), path: "i", magic: idxImagesMagic)
    }
    #expect(throws: VAEError(.badData, "i: file ends inside the IDX header (dimension 3)")) {
        try parseIDX(Array(asImages[..<15]), path: "i", magic: idxImagesMagic)
    }
    // 21 images announced, 20 there: what the file holds, then what the header says.
    let short = encodeIDX(magic: idxImagesMagic, dimensions: [21, 28, 28], payload: images.pixels)
    #expect(throws: VAEError(.badData, "i: data is shorter than the header says: 15680 of 16464 bytes")) {
        try parseIDX(short, path: "i", magic: idxImagesMagic)
    }
    // Cut gzip data: the bytes inflated before the cut, of the 15,680 announced.
    let gzip = gzipCompress(asImages)
    do {
        _ = try parseIDX(Array(gzip[..<(gzip.count / 2)]), path: "i.gz", magic: idxImagesMagic)
        Issue.record("half a gzip stream must be refused")
    } catch let error as VAEError {
        let prefix = "i.gz: truncated gzip data: it ends after ", suffix = " of the 15680 data bytes the header announces"
        #expect(error.kind == .badData && error.message.hasPrefix(prefix) && error.message.hasSuffix(suffix), "\(error.message)")
        let got = Int(error.message.dropFirst(prefix.count).dropLast(suffix.count))
        #expect(got.map { $0 > 0 && $0 < 15680 } == true, "\(error.message)")
    } catch {
        Issue.record("unexpected error \(error)")
    }
}

/// Every byte becomes the Float that training has always fed the models, byte times 1/255
/// rounded to a Float: for 126 of the 256 bytes another Float than byte / 255.
@Test func intensitiesAreBytesTimesTheFloatNearestOneIn255() {
    let bytes = (0...255).map(UInt8.init)
    let oneIn255: Float = 1 / 255
    #expect(bytes.map(intensity) == bytes.map { Float($0) * oneIn255 })
    #expect(bytes.filter { intensity($0) != Float($0) / 255 }.count == 126)
    #expect(intensity(0) == 0 && intensity(255) == 1)
}

/// A prefix of as many images as the set holds, or more, is the whole set, its last image too.
@Test func aPrefixOfTheWholeSetOrMoreKeepsEveryImage() {
    let set = syntheticImageSet(count: 5, seed: 3)
    for count in [5, 6, 1000] {
        let whole = set.prefix(count)
        #expect(whole.count == 5 && whole.pixels == set.pixels && whole.labels == set.labels, "prefix(\(count))")
    }
    let two = set.prefix(2)
    #expect(two.labels == Array(set.labels[..<2]) && two.pixels == Array(set.pixels[..<(2 * VAEConfig.inputSize)]))
    #expect(set.prefix(0).count == 0)
}

/// Dynamically binarised runs are all evaluated on one fixed binarisation of their images (seed
/// 0xB1A5EED), so that their figures compare; any other run on the images themselves.
@Test func theEvaluationBinarisationIsFixed() {
    let set = syntheticImageSet(count: 4, seed: 6)
    let fixed = set.evaluationImages(for: tinyRun(binarization: .dynamic))
    #expect(fixed.md5 == set.binarized(seed: 0xB1A_5EED).md5)
    #expect(fixed.md5 == "e685e484f2b9c1808d57977efecb67b7", "\(fixed.md5)")
    #expect(fixed.pixels.allSatisfy { $0 == 0 || $0 == 255 } && fixed.labels == set.labels)
    #expect(set.evaluationImages(for: tinyRun()).md5 == set.md5)
}

/// A resumed run trained on other images than the two official splits cannot be mended by a
/// download, whichever split differs: refused before anything is fetched.
@Test func aRunOnAnyOtherSplitSizesIsNotDownloadedFor() throws {
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    let folder = scratch + "/data"
    let lacks = "\(folder) lacks train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"
    for (train, test) in [(60_000, 2_000), (7_011, 10_000), (600, 100)] {
        #expect(throws: VAEError(.missingInput, "\(lacks), and the run was trained on \(train) training and \(test) test images, not the "
                                 + "official 60000 and 10000 a download brings; " + KMNIST.runDataAdvice), "\(train), \(test)") {
            try KMNIST.checkMissingDataCanBeFetched(folder, resuming: tinyRun(train: train, test: test))
        }
    }
    try KMNIST.checkMissingDataCanBeFetched(folder, resuming: tinyRun(train: 60_000, test: 10_000))
    try KMNIST.checkMissingDataCanBeFetched(folder, resuming: nil)
}

/// From a local mirror (a file: URL) each file reports its progress as complete: its bytes, of
/// as many known.
@Test func aLocalMirrorReportsEachFileWhole() throws {
    let mirror = URL(fileURLWithPath: syntheticData).absoluteString
    let fixtureMD5 = try syntheticDataMD5s()
    let scratch = temporaryFolder()
    defer { removeTemporaryFolder(scratch) }
    // Progress arrives on URLSession's thread: gathered, then checked here.
    let reports = Mutex<[(String, Int, Int?)]>([])
    try KMNIST.download(missingFrom: scratch + "/target", baseURL: mirror, expectedMD5: fixtureMD5) { name, received, total in
        reports.withLock { $0.append((name, received, total)) }
    }
    let all = reports.withLock { $0 }
    let sizes = try KMNIST.files.map { try readFile(syntheticData + "/" + $0.name + ".gz").count }
    #expect(all.map(\.0) == KMNIST.files.map { $0.name + ".gz" }, "\(all)")
    #expect(all.map(\.1) == sizes && all.map(\.2) == sizes, "\(all)")
}
