/// The sections of the TOSCA specification that diagnostics cite where DTE reads a template
/// differently from other TOSCA tools (docs/tosca-parser.md lists them). Section numbers are
/// those of TOSCA Simple Profile in YAML 1.3; 1.0–1.2 have the same sections under other numbers.
enum Spec {
    static let version = "TOSCA 1.3 §3.3.2, TOSCA version"
    static let propertyDefinition = "TOSCA 1.3 §3.6.10, property definition"
    static let parameterDefinition = "TOSCA 1.3 §3.6.14, parameter definition"
    static let requirementDefinition = "TOSCA 1.3 §3.7.3, requirement definition"
    static let requirementAssignment = "TOSCA 1.3 §3.8.2, requirement assignment"
    static let getInput = "TOSCA 1.3 §4.4.1, get_input"
}
