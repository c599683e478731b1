import DTECommands

/// `dte-apply` is `dte apply`: the name CI pipelines call on merge.
@main
struct DTEApplyMain {
    static func main() async {
        await DTE.ApplyCommand.main()
    }
}
