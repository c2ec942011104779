//! A tiny SMTP server for tests: it accepts mail on 127.0.0.1, keeps every message in memory,
//! and can refuse logins, or refuse or defer recipients. It speaks enough ESMTP (RFC 5321) for
//! lettre: the greeting, `EHLO`/`HELO`, `AUTH PLAIN` and `AUTH LOGIN` (any credentials),
//! `MAIL FROM`, `RCPT TO`, `DATA` with dot-unstuffing, `RSET`, `NOOP` and `QUIT`; no TLS.
//!
//! Self-contained (tokio and std only) so that any test crate can include it:
//! `#[path = "../../tests/support/smtp_sink.rs"] mod smtp_sink;`

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// One message as the sink accepted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The envelope sender (`MAIL FROM`), without angle brackets; empty for a null sender.
    pub from: String,
    /// The accepted envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// The message as transmitted, dot-unstuffed, lines ending in CRLF, without the final `.`.
    pub data: Vec<u8>,
}

impl Received {
    /// The message as text (lossy), for assertions.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// A running SMTP sink; stops (with its connections) when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    arrived: Notify,
}

#[derive(Debug, Default)]
struct State {
    messages: Vec<Received>,
    /// Lower-cased address to the full reply line.
    refused: HashMap<String, String>,
    /// How many of the next `RCPT`s get `defer_reply`.
    deferred: usize,
    defer_reply: String,
    /// The user names that authenticated.
    logins: Vec<String>,
    /// The reply every `AUTH` gets instead of success, while set.
    login_refusal: Option<String>,
}

impl SmtpSink {
    /// Starts a sink on a free port of 127.0.0.1.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the SMTP sink");
        let addr = listener.local_addr().expect("the SMTP sink's address");
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(accept(listener, Arc::clone(&shared)));
        SmtpSink { addr, shared, task }
    }

    /// `smtp://127.0.0.1:PORT`: plain SMTP, as `Mailer::smtp` and lettre's `from_url` read it.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The address the sink listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.state().messages.clone()
    }

    /// The user names of every successful `AUTH`, in order.
    pub fn logins(&self) -> Vec<String> {
        self.shared.state().logins.clone()
    }

    /// Waits until at least `n` messages arrived and returns them all; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("the SMTP sink got {} of {n} messages in {timeout:?}", messages.len());
            }
        }
    }

    /// Answers `RCPT TO:<addr>` (any case) with `reply`, a whole reply line such as
    /// `550 5.1.1 <addr>: Recipient address rejected: unknown mailbox`, from now on.
    pub fn refuse_recipient(&self, addr: &str, reply: &str) {
        let mut state = self.shared.state();
        state.refused.insert(addr.to_ascii_lowercase(), reply.to_owned());
    }

    /// Accepts `addr` again after [`SmtpSink::refuse_recipient`].
    pub fn accept_recipient(&self, addr: &str) {
        self.shared.state().refused.remove(&addr.to_ascii_lowercase());
    }

    /// Answers every `AUTH` with `reply` (e.g. `535 5.7.8 Authentication credentials invalid`)
    /// from now on, or, with `None`, accepts logins again.
    pub fn refuse_logins(&self, reply: Option<&str>) {
        self.shared.state().login_refusal = reply.map(str::to_owned);
    }

    /// Answers the next `n` `RCPT`s, whoever they name, with `reply` (e.g.
    /// `451 4.3.0 Try again later`).
    pub fn defer_next(&self, n: usize, reply: &str) {
        let mut state = self.shared.state();
        state.deferred = n;
        state.defer_reply = reply.to_owned();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Accepts connections until aborted; dropping the set ends the open sessions too.
async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut sessions = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        while sessions.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        sessions.spawn(serve(stream, Arc::clone(&shared)));
    }
}

/// One SMTP session; ends on `QUIT`, end of input or an I/O error.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let (read, write) = stream.into_split();
    let mut session =
        Session { reader: BufReader::new(read), writer: write, shared, from: None, to: Vec::new() };
    let _ = session.run().await;
}

struct Session {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: OwnedWriteHalf,
    shared: Arc<Shared>,
    from: Option<String>,
    to: Vec<String>,
}

/// What to do after a command.
enum Next {
    Continue,
    Quit,
}

impl Session {
    async fn run(&mut self) -> std::io::Result<()> {
        self.reply("220 kalends-sink ESMTP ready").await?;
        while let Some(line) = self.line().await? {
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Next::Quit = self.command(&line).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn command(&mut self, line: &str) -> std::io::Result<Next> {
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                let greeting = format!(
                    "250-kalends-sink greets {arg}\r\n250-AUTH PLAIN LOGIN\r\n250-SMTPUTF8\r\n250 8BITMIME"
                );
                self.reply(&greeting).await?;
            }
            "HELO" => self.reply("250 kalends-sink").await?,
            "AUTH" => self.auth(arg).await?,
            "MAIL" => self.mail(arg).await?,
            "RCPT" => self.rcpt(arg).await?,
            "DATA" => self.data().await?,
            "RSET" => {
                self.reset();
                self.reply("250 2.0.0 Ok").await?;
            }
            "NOOP" => self.reply("250 2.0.0 Ok").await?,
            "QUIT" => {
                self.reply("221 2.0.0 Bye").await?;
                return Ok(Next::Quit);
            }
            "STARTTLS" => self.reply("454 4.7.0 TLS not available").await?,
            _ => self.reply("502 5.5.2 Command not recognized").await?,
        }
        Ok(Next::Continue)
    }

    /// `AUTH PLAIN [initial]` or `AUTH LOGIN [user]`: any credentials are accepted.
    async fn auth(&mut self, arg: &str) -> std::io::Result<()> {
        let mut words = arg.split_whitespace();
        let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
        let initial = words.next().map(str::to_owned);
        let user = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(response) => response,
                    None => self.challenge("334 ").await?,
                };
                let decoded = base64_decode(&response);
                // authzid NUL authcid NUL password
                decoded.split(|&b| b == 0).nth(1).map(|u| String::from_utf8_lossy(u).into_owned())
            }
            "LOGIN" => {
                let user = match initial {
                    Some(user) => user,
                    None => self.challenge("334 VXNlcm5hbWU6").await?,
                };
                self.challenge("334 UGFzc3dvcmQ6").await?;
                Some(String::from_utf8_lossy(&base64_decode(&user)).into_owned())
            }
            _ => return self.reply("504 5.5.4 Unrecognized authentication type").await,
        };
        let refusal = self.shared.state().login_refusal.clone();
        if let Some(reply) = refusal {
            return self.reply(&reply).await;
        }
        match user {
            Some(user) => {
                self.shared.state().logins.push(user);
                self.reply("235 2.7.0 Authentication successful").await
            }
            None => self.reply("501 5.5.2 Cannot decode response").await,
        }
    }

    /// Sends a `334` challenge and returns the client's answer line.
    async fn challenge(&mut self, challenge: &str) -> std::io::Result<String> {
        self.reply(challenge).await?;
        let line = self.line().await?.unwrap_or_default();
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    async fn mail(&mut self, arg: &str) -> std::io::Result<()> {
        match path_of(arg, "FROM:") {
            Some(from) => {
                self.reset();
                self.from = Some(from);
                self.reply("250 2.1.0 Ok").await
            }
            None => self.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await,
        }
    }

    async fn rcpt(&mut self, arg: &str) -> std::io::Result<()> {
        if self.from.is_none() {
            return self.reply("503 5.5.1 Error: need MAIL command").await;
        }
        let Some(to) = path_of(arg, "TO:") else {
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>").await;
        };
        let refusal = {
            let mut state = self.shared.state();
            if state.deferred > 0 {
                state.deferred -= 1;
                Some(state.defer_reply.clone())
            } else {
                state.refused.get(&to.to_ascii_lowercase()).cloned()
            }
        };
        match refusal {
            Some(reply) => self.reply(&reply).await,
            None => {
                self.to.push(to);
                self.reply("250 2.1.5 Ok").await
            }
        }
    }

    async fn data(&mut self) -> std::io::Result<()> {
        let Some(from) = self.from.clone() else {
            return self.reply("503 5.5.1 Error: need MAIL command").await;
        };
        if self.to.is_empty() {
            return self.reply("554 5.5.1 Error: no valid recipients").await;
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let mut data = Vec::new();
        loop {
            let Some(line) = self.line().await? else {
                return Ok(());
            };
            if line == b"." {
                break;
            }
            let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
            data.extend_from_slice(unstuffed);
            data.extend_from_slice(b"\r\n");
        }
        let to = std::mem::take(&mut self.to);
        let queued = {
            let mut state = self.shared.state();
            state.messages.push(Received { from, to, data });
            state.messages.len()
        };
        self.shared.arrived.notify_waiters();
        self.from = None;
        self.reply(&format!("250 2.0.0 Ok: queued as {queued}")).await
    }

    fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }

    /// Reads one line without its CR LF; `None` at the end of input.
    async fn line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        if self.reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }

    /// One write per reply, as real servers do (two small writes meet Nagle's algorithm and the
    /// client's delayed ACK: 40 ms or more per command).
    async fn reply(&mut self, reply: &str) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(reply.len() + 2);
        bytes.extend_from_slice(reply.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.writer.write_all(&bytes).await?;
        self.writer.flush().await
    }
}

/// The address in `FROM:<a@b> PARAMS` or `TO:<a@b>`, without the brackets.
fn path_of(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let path = rest.split_whitespace().next().unwrap_or_default();
    let address = path.strip_prefix('<')?.strip_suffix('>')?;
    Some(address.to_owned())
}

/// Standard base64 (RFC 4648), ignoring anything outside the alphabet.
fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0);
    for sextet in s.bytes().filter_map(|b| ALPHABET.iter().position(|&a| a == b)) {
        bits = (bits << 6) | sextet as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}
