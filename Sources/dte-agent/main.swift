print("dte-agent: not built yet")
