/// The type names code acts on: DTE's own (`templates/dte/types.yaml`) and the TOSCA normative
/// ones it looks for. One place, so a renamed type is renamed everywhere and a typo is a
/// compile error, not a rule that silently never applies.
public enum Vocabulary {
    /// DTE's node types.
    public enum Node {
        public static let digitalTwin = "dte.nodes.DigitalTwin"
        public static let component = "dte.nodes.Component"
        public static let batchJob = "dte.nodes.BatchJob"
        public static let service = "dte.nodes.Service"
        public static let mlTraining = "dte.nodes.MLTraining"
        public static let site = "dte.nodes.Site"
        public static let htcondorSite = "dte.nodes.Site.HTCondor"
    }

    /// DTE's policy types.
    public enum Policy {
        public static let schedule = "dte.policies.Schedule"
        public static let trigger = "dte.policies.Trigger"
        public static let placement = "dte.policies.Placement"
        public static let protection = "dte.policies.Protection"
        public static let quality = "dte.policies.Quality"
        public static let allocation = "dte.policies.Allocation"
    }

    /// TOSCA normative names DTE's code relies on.
    public enum TOSCA {
        public static let hostedOn = "tosca.relationships.HostedOn"
    }
}
