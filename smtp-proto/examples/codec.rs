//! The codec alone, without a state machine: decode a pipelined command stream and a server's
//! EHLO response, encode them back, and see a smuggled command refused.
//!
//! `cargo run -p smtp-proto --example codec`

use bytes::BytesMut;
use smtp_proto::codec::{
    CommandOptions, Decoded, ReplyOptions, decode_command, decode_ehlo_response, encode_command,
};
use smtp_proto::types::{Command, Extension, Mailbox};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Commands arrive in one read; decode them one by one, each borrowing from the buffer.
    let mut input: &[u8] = b"EHLO client.example\r\nMAIL FROM:<a@example.org> SIZE=1024\r\nRCPT TO:<b@example.com>\r\nDATA\r\n";
    let options = CommandOptions::default();
    let mut encoded = BytesMut::new();
    while let Decoded::Complete(command, used) = decode_command(input, &options)? {
        println!("{command:?}");
        encode_command(&command, &mut encoded);
        input = input.get(used..).unwrap_or_default();
    }
    // Encoding gives the same bytes back.
    assert!(encoded.starts_with(b"EHLO client.example\r\nMAIL FROM:<a@example.org> SIZE=1024\r\n"));

    // A reply the client reads: the capabilities come out typed.
    let ehlo = b"250-mail.example\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n250 STARTTLS\r\n";
    let Decoded::Complete(response, _) = decode_ehlo_response(ehlo, &ReplyOptions::default())?
    else {
        return Err("incomplete".into());
    };
    println!(
        "pipelining: {}, size limit: {:?}",
        response.supports(Extension::Pipelining),
        response.size()
    );

    // Values are valid by construction: a CRLF cannot be smuggled into a command.
    assert!(Mailbox::parse("a@example.org\r\nRCPT TO:<x@evil.example>").is_err());
    let mut out = BytesMut::new();
    encode_command(&Command::Quit, &mut out);
    assert_eq!(&out[..], b"QUIT\r\n");
    Ok(())
}
