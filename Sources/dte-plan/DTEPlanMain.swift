import DTECommands

/// `dte-plan` is `dte plan`: the name CI pipelines call on pull requests.
@main
struct DTEPlanMain {
    static func main() async {
        await DTE.PlanCommand.main()
    }
}
