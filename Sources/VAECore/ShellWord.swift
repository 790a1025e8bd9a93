/// `text` as one word of a shell command line: as it is when no shell gives any of its characters
/// a meaning, else in single quotes (a quote inside written '\''), so that a command a message
/// suggests ("Continue with: vae-train --resume 'my run'") can be pasted as it is. A leading "="
/// is quoted too: zsh expands "=name" to a command's path.
public func shellWord(_ text: String) -> String {
    let plain = !text.isEmpty && !text.hasPrefix("=")
        && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "/._-+,:=@%".contains($0)) }
    return plain ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// `path` as a shell word that a tool reads as a path: one starting with "-" is written "./-…",
/// the same file, which the tool cannot take for a flag.
public func shellPath(_ path: String) -> String {
    shellWord(path.hasPrefix("-") ? "./" + path : path)
}
