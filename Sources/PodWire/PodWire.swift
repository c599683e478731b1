/// Wire types shared by `dte-agent` and its callers (interLink's plugin API).
public enum PodWire {}
