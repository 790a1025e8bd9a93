import CLibcrypto
import Foundation

/// The MD5 digest of `parts`, one after the other, as 32 lowercase hex digits, by OpenSSL's
/// libcrypto. MD5 only checks a download against the published checksums, or data against what
/// a run recorded; it guards against corruption and mix-ups, not forgery.
public func md5Hex(_ parts: [UInt8]...) -> String {
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    let context = EVP_MD_CTX_new()
    defer { EVP_MD_CTX_free(context) }
    var ok = EVP_DigestInit_ex(context, EVP_md5(), nil) == 1
    for part in parts {
        ok = ok && part.withUnsafeBytes { EVP_DigestUpdate(context, $0.baseAddress, $0.count) } == 1
    }
    ok = ok && EVP_DigestFinal_ex(context, &digest, &length) == 1
    precondition(ok && length == 16, "libcrypto could not compute an MD5 digest")
    return digest[..<16].map { String(format: "%02x", $0) }.joined()
}
