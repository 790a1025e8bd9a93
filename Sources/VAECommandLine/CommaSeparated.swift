import Foundation

/// The items of a comma-separated flag value ("0,5,9"), each trimmed of spaces and parsed by
/// `parse`; nil when any item does not parse (an empty one included), so that the argument
/// parser names the flag and the value it could not read.
public func commaSeparated<Item>(_ argument: String, _ parse: (String) -> Item?) -> [Item]? {
    let items = argument.split(separator: ",", omittingEmptySubsequences: false)
        .map { parse($0.trimmingCharacters(in: .whitespaces)) }
    guard items.allSatisfy({ $0 != nil }) else { return nil }
    return items.map { $0! }
}
