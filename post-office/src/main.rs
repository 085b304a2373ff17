//! The `post-office` command; see the library.

fn main() -> std::process::ExitCode {
    post_office::main()
}
