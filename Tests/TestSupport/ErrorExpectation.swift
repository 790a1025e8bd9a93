import Testing
import VAECore

/// Expects `body` to throw a VAEError of `kind` whose message contains each of `parts`.
public func expectVAEError(_ kind: VAEError.Kind, containing parts: [String], sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a VAEError containing \(parts)", sourceLocation: sourceLocation)
    } catch let error as VAEError {
        #expect(error.kind == kind, "\(error.message)", sourceLocation: sourceLocation)
        for part in parts {
            #expect(error.message.contains(part), "\"\(error.message)\" should contain \"\(part)\"", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected a VAEError, got \(error)", sourceLocation: sourceLocation)
    }
}
