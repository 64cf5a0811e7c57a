//! A minimal HTTP/1.1 client over one persistent (keep-alive) TCP connection, std only.
//!
//! It speaks just enough HTTP for the Vault API on loopback: one request at a time, a
//! `Content-Length` body out, a `Content-Length` or chunked body back. If the server closed the
//! connection while it was idle, the request is sent again once on a new connection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// One keep-alive connection to `host:port`.
pub struct Connection {
    addr: String,
    reader: Option<BufReader<TcpStream>>,
}

/// A response: status and body.
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The whole body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl Connection {
    /// Connects to `addr` (`127.0.0.1:8200`).
    pub fn open(addr: &str) -> io::Result<Self> {
        let mut connection = Self {
            addr: addr.to_owned(),
            reader: None,
        };
        connection.reconnect()?;
        Ok(connection)
    }

    fn reconnect(&mut self) -> io::Result<()> {
        let stream = TcpStream::connect(&self.addr)?;
        stream.set_nodelay(true)?;
        self.reader = Some(BufReader::with_capacity(16 * 1024, stream));
        Ok(())
    }

    /// Sends one request and reads the whole response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        let message = encode(&self.addr, method, path, token, body);
        if self.reader.is_some() {
            match self.exchange(&message) {
                Ok(response) => return Ok(response),
                // The server may have closed the idle connection: try once on a new one.
                Err(_) => self.reader = None,
            }
        }
        self.reconnect()?;
        self.exchange(&message)
    }

    fn exchange(&mut self, message: &[u8]) -> io::Result<Response> {
        let reader = self
            .reader
            .as_mut()
            .ok_or_else(|| io::Error::other("not connected"))?;
        reader.get_mut().write_all(message)?;
        let (response, close) = read_response(reader)?;
        if close {
            self.reader = None;
        }
        Ok(response)
    }
}

fn encode(
    host: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nX-Vault-Request: true\r\n");
    if let Some(token) = token {
        head.push_str("X-Vault-Token: ");
        head.push_str(token);
        head.push_str("\r\n");
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    message
}

fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads one response; also says whether the server will close the connection.
fn read_response(reader: &mut BufReader<TcpStream>) -> io::Result<(Response, bool)> {
    let status_line = read_line(reader)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line `{status_line}`")))?;
    let mut length = None;
    let mut chunked = false;
    let mut close = false;
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = read_line(reader)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::other(format!("bad chunk size `{size_line}`")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !read_line(reader)?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            read_line(reader)?;
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else if status != 204 && status != 304 {
        reader.read_to_end(&mut body)?;
        close = true;
    }
    Ok((Response { status, body }, close))
}
