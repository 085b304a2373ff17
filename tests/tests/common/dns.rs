//! A tiny authoritative DNS server on loopback for the relay tests: a fixed zone of MX, A and
//! AAAA records, names that answer SERVFAIL, and NXDOMAIN for every name it does not know.
//! UDP and TCP (RFC 7766) on the same port; hickory-proto parses queries and builds answers.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, MX};
use hickory_proto::rr::{Name, RData, Record};

/// What the server answers, per name (lower case, without the final dot).
#[derive(Clone, Default)]
pub struct Zone {
    records: HashMap<String, Vec<RData>>,
    servfail: Vec<String>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(mut self, name: &str, data: RData) -> Self {
        self.records.entry(key(name)).or_default().push(data);
        self
    }

    /// `name MX preference exchange`.
    pub fn mx(self, name: &str, preference: u16, exchange: &str) -> Self {
        let exchange = Name::from_ascii(format!("{}.", exchange.trim_end_matches('.')))
            .expect("an exchange name");
        self.add(name, RData::MX(MX::new(preference, exchange)))
    }

    /// RFC 7505's null MX: `name MX 0 .`.
    pub fn null_mx(self, name: &str) -> Self {
        self.add(name, RData::MX(MX::new(0, Name::root())))
    }

    /// `name A address`.
    pub fn a(self, name: &str, address: &str) -> Self {
        let address: Ipv4Addr = address.parse().expect("an IPv4 address");
        self.add(name, RData::A(A(address)))
    }

    /// `name AAAA address`.
    pub fn aaaa(self, name: &str, address: &str) -> Self {
        let address: Ipv6Addr = address.parse().expect("an IPv6 address");
        self.add(name, RData::AAAA(AAAA(address)))
    }

    /// Every query for `name` is answered SERVFAIL.
    pub fn servfail(mut self, name: &str) -> Self {
        self.servfail.push(key(name));
        self
    }

    /// The answer to one query message.
    fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        let mut response = Message::new();
        response
            .set_id(request.id())
            .set_message_type(MessageType::Response)
            .set_op_code(OpCode::Query)
            .set_authoritative(true)
            .set_recursion_desired(request.recursion_desired())
            .set_recursion_available(true);
        let Some(question) = request.queries().first().cloned() else {
            response.set_response_code(ResponseCode::FormErr);
            return response.to_vec().ok();
        };
        response.add_query(question.clone());
        let name = key(&question.name().to_ascii());
        if self.servfail.contains(&name) {
            response.set_response_code(ResponseCode::ServFail);
        } else if let Some(records) = self.records.get(&name) {
            for data in records {
                if data.record_type() == question.query_type() {
                    response.add_answer(Record::from_rdata(
                        question.name().clone(),
                        60,
                        data.clone(),
                    ));
                }
            }
        } else {
            response.set_response_code(ResponseCode::NXDomain);
        }
        response.to_vec().ok()
    }
}

/// The running server; stopped when dropped.
pub struct DnsServer {
    port: u16,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `zone` on 127.0.0.1, UDP and TCP, on a free port.
    pub fn start(zone: Zone) -> Self {
        let (udp, tcp) = (0..50)
            .find_map(|_| {
                let port = crate::common::free_port();
                let tcp = TcpListener::bind(("127.0.0.1", port)).ok()?;
                let udp = UdpSocket::bind(("127.0.0.1", port)).ok()?;
                Some((udp, tcp))
            })
            .expect("a free port for UDP and TCP");
        let port = udp.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let zone = Arc::new(zone);
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        tcp.set_nonblocking(true).unwrap();
        let udp_thread = {
            let (zone, stop) = (zone.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = udp.recv_from(&mut buffer) else {
                        continue;
                    };
                    if let Some(answer) = buffer.get(..n).and_then(|query| zone.answer(query)) {
                        let _ = udp.send_to(&answer, from);
                    }
                }
            })
        };
        let tcp_thread = {
            let (zone, stop) = (zone.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match tcp.accept() {
                        Ok((stream, _)) => serve_tcp(stream, &zone),
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        Self {
            port,
            stop,
            threads: vec![udp_thread, tcp_thread],
        }
    }

    /// `127.0.0.1:PORT`, for `--resolver`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// RFC 1035 4.2.2: each message prefixed with its two-octet length; several per connection.
fn serve_tcp(mut stream: TcpStream, zone: &Zone) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    for _ in 0..16 {
        let mut length = [0u8; 2];
        if stream.read_exact(&mut length).is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(length))];
        if stream.read_exact(&mut query).is_err() {
            return;
        }
        let Some(answer) = zone.answer(&query) else {
            return;
        };
        let Ok(length) = u16::try_from(answer.len()) else {
            return;
        };
        let mut framed = length.to_be_bytes().to_vec();
        framed.extend_from_slice(&answer);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
