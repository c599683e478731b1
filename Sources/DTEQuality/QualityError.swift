import Foundation

/// Why an assessment could not be made (as opposed to a criterion that is not met, which is
/// part of the report). The message says what was wrong and what to do.
public struct QualityError: Error, Sendable, CustomStringConvertible, Equatable {
    /// `source`: the source string is refused (scheme, option-like, leaves the repository);
    /// `fetch`: git could not clone or list it; `settings`: the `quality:` section of dte.yaml is
    /// wrong; `service`: the SQAaaS service failed or answered nonsense; `io`: a local failure.
    public enum Kind: String, Sendable { case source, fetch, settings, service, io }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
