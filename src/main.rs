use std::process::ExitCode;

fn main() -> ExitCode {
    hostdeck::main()
}
