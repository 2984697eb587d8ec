//! A plain HTTP/1.1 client for the mock on loopback: one GET per fresh connection, no
//! library in between, so that what it counts and times owes nothing to the host's stack.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use host_harness::secret::Secret;

/// GET `path` (with its query) with the admin key; the status and the body, de-chunked.
pub async fn get(addr: SocketAddr, path: &str, key: &Secret) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        key.expose()
    );
    s.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1 << 20);
    s.read_to_end(&mut buf).await?;
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers in the mock's response")?;
    let head =
        std::str::from_utf8(&buf[..head_end]).context("the response's headers are not UTF-8")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status in the mock's response")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = buf.split_off(head_end + 4);
    Ok((status, if chunked { dechunk(&body)? } else { body }))
}

fn dechunk(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(rest.len());
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a chunk without a size line")?;
        let size_text = std::str::from_utf8(&rest[..eol])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 {
            bail!("a truncated chunk");
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_are_joined() {
        let body = b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
        assert_eq!(super::dechunk(body).unwrap(), b"hello world");
        assert!(super::dechunk(b"5\r\nhel").is_err());
    }
}
