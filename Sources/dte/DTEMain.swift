import DTECommands

@main
struct DTEMain {
    static func main() async {
        await DTE.main()
    }
}
