//! Prints the sizes and shape of the benchmark inputs (quoted in the README).
fn main() {
    let body = mail_bench::message(10 * 1024 * 1024);
    let lines = body.split(|&b| b == b'\n').count() - 1;
    let dots =
        body.windows(2).filter(|w| w == b"\n.").count() + usize::from(body.first() == Some(&b'.'));
    let stream = mail_bench::command_stream(2000);
    let commands = stream.iter().filter(|&&b| b == b'\n').count();
    println!(
        "message: {} octets, {lines} lines, {dots} starting with '.', stuffed {} octets",
        body.len(),
        mail_bench::stuffed(&body).len()
    );
    println!("command stream: {} octets, {commands} lines", stream.len());
}
