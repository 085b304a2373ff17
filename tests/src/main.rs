//! `post-office`, built inside the peer-test package (the tests start it as a process).

fn main() -> std::process::ExitCode {
    post_office::main()
}
