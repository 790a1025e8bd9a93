import COpenBLAS
import CVectorMath

/// This project's version. Raise it with a change to what the tools accept or write; the files
/// they write carry versions of their own (`checkpointFormat`, `stateFormat`, `classifierFormat`).
public let projectVersion = "1.0.0"

/// What every tool's `--version` prints: the version, the file formats it reads and writes, and
/// what decides its speed on this machine: the vector instructions the core was compiled for and
/// the OpenBLAS it runs on.
public func versionDescription() -> String {
    """
    kmnist-vae \(projectVersion)
    files: \(checkpointFormat), \(stateFormat), \(classifierFormat)
    core compiled for \(compiledVectorExtension())
    \(openBLASDescription())
    """
}

/// The widest vector instructions the core was compiled for (`-target-cpu native` on the
/// building machine): AVX-512, AVX2, AVX, SSE2 or NEON.
public func compiledVectorExtension() -> String {
    String(cString: compiled_vector_extension())
}

/// OpenBLAS's version and build as it reports them, and the kernels it chose for this processor
/// (OPENBLAS_CORETYPE overrides its choice).
public func openBLASDescription() -> String {
    let config = String(cString: openblas_get_config()), core = String(cString: openblas_get_corename())
    return "\(config), kernels \(core)"
}
