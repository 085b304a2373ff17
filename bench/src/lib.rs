//! Inputs shared by the benchmarks: realistic, deterministic, and the same for every
//! implementation measured.

/// A realistic message of about `size` octets: a header block, then 76-column body lines
/// (as base64 and quoted-printable bodies have), one line in 40 starting with a '.'.
pub fn message(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 128);
    out.extend_from_slice(
        b"Received: from client.example (client.example [192.0.2.1])\r\n\
          \tby mx.example with ESMTPS id 4aB3cD; Thu, 26 Nov 2026 07:00:00 +0000\r\n\
          From: Alice <alice@client.example>\r\n\
          To: Bob <bob@mx.example>\r\n\
          Subject: quarterly figures\r\n\
          Message-ID: <20261126070000.4aB3cD@client.example>\r\n\
          MIME-Version: 1.0\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\r\n",
    );
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ ,.-";
    let mut seed: u32 = 0x2545_f491;
    let mut line = 0usize;
    while out.len() < size {
        for column in 0..76 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let byte = alphabet[seed as usize % alphabet.len()];
            out.push(if column == 0 && line % 40 == 7 {
                b'.'
            } else {
                byte
            });
        }
        out.extend_from_slice(b"\r\n");
        line += 1;
    }
    out
}

/// `body` dot-stuffed and terminated, written out plainly (not with the encoder under test).
pub fn stuffed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 8);
    let mut line_start = true;
    for &byte in body {
        if line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        line_start = byte == b'\n';
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A realistic SMTP command stream: many pipelined envelopes.
pub fn command_stream(envelopes: usize) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"EHLO client.example\r\n");
    for n in 0..envelopes {
        out.extend_from_slice(
            format!(
                "MAIL FROM:<sender{n}@client.example> SIZE=12345 BODY=8BITMIME\r\n\
                 RCPT TO:<rcpt{n}@mx.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;rcpt{n}@mx.example\r\n\
                 RCPT TO:<other{n}@mx.example>\r\n\
                 DATA\r\nRSET\r\nNOOP\r\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"QUIT\r\n");
    out
}
