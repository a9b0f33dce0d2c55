//! dstack guest agent (`/var/run/dstack.sock`): quotes with our report data,
//! the runtime event log, and instance info (app id, compose hash).
//!
//! This talks to the socket with a minimal blocking HTTP/1.1 client instead of
//! the `dstack-sdk` crate: that crate pulls in `alloy` (Ethereum), `reqwest` and
//! `tokio` for three JSON POSTs, which is impractical here (build time on small
//! machines, and a large dependency surface in a security component).
//! The endpoints and JSON fields are those of dstack's guest-agent API
//! (`/GetQuote`, `/Info`).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha384};

use crate::attestation::{DstackEvent, DstackEvidence, Evidence};
use crate::error::TeeError;
use crate::sources::{Binding, BindingValue, EvidenceSource, Probe, SourceKind};
use crate::types::{decode_hex, Measurement};

/// Socket paths the guest agent is known to use, in the order dstack's SDK tries them.
pub const DSTACK_SOCKETS: &[&str] = &[
    "/var/run/dstack.sock",
    "/run/dstack.sock",
    "/var/run/dstack/dstack.sock",
    "/run/dstack/dstack.sock",
];
/// TCG event type of dstack runtime events (extended into RTMR3).
pub const DSTACK_RUNTIME_EVENT_TYPE: u32 = 0x0800_0001;
const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Evidence from the dstack guest agent.
#[derive(Clone, Debug)]
pub struct DstackSource {
    socket: PathBuf,
}

impl DstackSource {
    /// A source using the given socket.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        DstackSource {
            socket: socket.into(),
        }
    }

    /// The first known socket path that exists, if any.
    pub fn find() -> Option<Self> {
        DSTACK_SOCKETS
            .iter()
            .find(|p| Path::new(p).exists())
            .map(|p| Self::new(*p))
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn err(detail: String) -> TeeError {
        TeeError::Source {
            source_name: "dstack",
            detail,
        }
    }
}

/// Sends one HTTP/1.1 POST with a JSON body over a Unix socket and returns the body.
pub(crate) fn post_json(
    socket: &Path,
    path: &str,
    body: &serde_json::Value,
) -> Result<Vec<u8>, TeeError> {
    let err = |d: String| DstackSource::err(format!("{} {path}: {d}", socket.display()));
    let mut stream = UnixStream::connect(socket).map_err(|e| err(format!("connect: {e}")))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| err(format!("socket timeout: {e}")))?;
    let payload = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: dstack\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| err(format!("write: {e}")))?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| err(format!("read: {e}")))?;
    if raw.len() > MAX_RESPONSE_BYTES {
        return Err(err(format!(
            "response larger than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    parse_http_response(&raw).map_err(err)
}

/// Parses an HTTP/1.1 response (status, headers, body with Content-Length,
/// chunked encoding or read-to-close). Non-2xx statuses are errors.
pub fn parse_http_response(raw: &[u8]) -> Result<Vec<u8>, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers in the response")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "response headers are not UTF-8")?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let proto = parts.next().unwrap_or_default();
    if !proto.starts_with("HTTP/1.") {
        return Err(format!(
            "not an HTTP/1.x response: {:?}",
            truncate(status_line)
        ));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {:?}", truncate(status_line)))?;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    for line in lines {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {:?}", truncate(line)))?;
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            content_length = Some(v.parse().map_err(|_| format!("bad Content-Length {v:?}"))?);
        } else if k.eq_ignore_ascii_case("transfer-encoding")
            && v.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = content_length {
        body.get(..n)
            .ok_or_else(|| format!("body has {} bytes, Content-Length says {n}", body.len()))?
            .to_vec()
    } else {
        body.to_vec()
    };
    if !(200..300).contains(&status) {
        return Err(format!(
            "HTTP status {status}: {}",
            truncate(&String::from_utf8_lossy(&body))
        ));
    }
    Ok(body)
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunked body: missing chunk size line")?;
        let line = std::str::from_utf8(&b[..eol]).map_err(|_| "chunked body: bad size line")?;
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("chunked body: bad chunk size {:?}", truncate(size_hex)))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = b.get(..size).ok_or("chunked body: truncated chunk")?;
        out.extend_from_slice(chunk);
        b = b
            .get(size..)
            .and_then(|r| r.strip_prefix(b"\r\n"))
            .ok_or("chunked body: missing CRLF after chunk")?;
        if out.len() > MAX_RESPONSE_BYTES {
            return Err("chunked body too large".into());
        }
    }
}

#[derive(Deserialize)]
struct GetQuoteResponse {
    quote: String,
    #[serde(default)]
    event_log: String,
    #[serde(default)]
    vm_config: Option<String>,
}

#[derive(Deserialize)]
struct InfoResponse {
    #[serde(default)]
    app_id: String,
    #[serde(default)]
    instance_id: String,
    #[serde(default)]
    compose_hash: String,
}

/// Parses dstack's event log (a JSON array of events).
pub fn parse_event_log(json: &str) -> Result<Vec<DstackEvent>, TeeError> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(json).map_err(|e| TeeError::Malformed {
        what: "dstack event log",
        detail: e.to_string(),
    })
}

impl EvidenceSource for DstackSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Dstack
    }

    fn binding(&self) -> Binding {
        Binding::ReportData
    }

    fn probe(&self) -> Probe {
        let location = self.socket.display().to_string();
        let (usable, detail) = if !self.socket.exists() {
            (false, "socket does not exist (not running inside a dstack CVM, or the socket is not mounted into this container)".to_string())
        } else {
            match post_json(&self.socket, "/Info", &serde_json::json!({})) {
                Ok(body) => match serde_json::from_slice::<InfoResponse>(&body) {
                    Ok(i) => (
                        true,
                        format!(
                            "guest agent answers: app_id {}, compose hash {}",
                            i.app_id, i.compose_hash
                        ),
                    ),
                    Err(e) => (
                        false,
                        format!("guest agent answered /Info with unexpected JSON: {e}"),
                    ),
                },
                Err(e) => (false, e.to_string()),
            }
        };
        Probe {
            kind: SourceKind::Dstack,
            location,
            usable,
            detail,
            nvml: None,
        }
    }

    fn collect(&self, binding: &BindingValue) -> Result<Evidence, TeeError> {
        let BindingValue::ReportData(rd) = binding else {
            return Err(Self::err(
                "dstack quotes bind report_data, not a GPU nonce".into(),
            ));
        };
        let body = post_json(
            &self.socket,
            "/GetQuote",
            &serde_json::json!({ "report_data": rd.to_hex() }),
        )?;
        let q: GetQuoteResponse = serde_json::from_slice(&body)
            .map_err(|e| Self::err(format!("/GetQuote returned unexpected JSON: {e}")))?;
        let quote = decode_hex("dstack quote", &q.quote)?;
        let event_log = parse_event_log(&q.event_log)?;
        let info_body = post_json(&self.socket, "/Info", &serde_json::json!({}))?;
        let info: InfoResponse = serde_json::from_slice(&info_body)
            .map_err(|e| Self::err(format!("/Info returned unexpected JSON: {e}")))?;
        Ok(Evidence::Dstack(DstackEvidence {
            quote: quote.into(),
            event_log,
            app_id: info.app_id,
            instance_id: info.instance_id,
            reported_compose_hash: info.compose_hash,
            vm_config: q.vm_config.filter(|s| !s.is_empty()),
            collateral: None,
        }))
    }
}

/// RTMR3 replayed from the event log, and the compose hash measured into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayedRtmr3 {
    /// The replayed register value.
    pub rtmr3: Measurement,
    /// Payload of the (single) `compose-hash` runtime event.
    pub compose_hash: Option<[u8; 32]>,
}

/// Replays the RTMR3 events of a dstack event log: each runtime event's digest
/// must equal `SHA-384(event_type_le || ":" || event || ":" || payload)`, and
/// `RTMR3 = SHA-384(RTMR3 || digest)` from 48 zero bytes.
pub fn replay_rtmr3(events: &[DstackEvent]) -> Result<ReplayedRtmr3, TeeError> {
    let bad = |i: usize, d: String| TeeError::Malformed {
        what: "dstack event log",
        detail: format!("event {i}: {d}"),
    };
    let mut mr = [0u8; 48];
    let mut compose_hash = None;
    for (i, ev) in events.iter().enumerate().filter(|(_, e)| e.imr == 3) {
        let digest = decode_hex("event digest", &ev.digest).map_err(|e| bad(i, e.to_string()))?;
        if digest.len() != 48 {
            return Err(bad(
                i,
                format!("digest has {} bytes, expected 48", digest.len()),
            ));
        }
        let payload =
            decode_hex("event payload", &ev.event_payload).map_err(|e| bad(i, e.to_string()))?;
        if ev.event_type != DSTACK_RUNTIME_EVENT_TYPE {
            return Err(bad(
                i,
                format!(
                    "RTMR3 event type 0x{:08x} is not a dstack runtime event",
                    ev.event_type
                ),
            ));
        }
        let mut h = Sha384::new();
        h.update(ev.event_type.to_le_bytes());
        h.update(b":");
        h.update(ev.event.as_bytes());
        h.update(b":");
        h.update(&payload);
        if h.finalize().as_slice() != digest.as_slice() {
            return Err(bad(
                i,
                format!("digest does not match event `{}` and its payload", ev.event),
            ));
        }
        let mut h = Sha384::new();
        h.update(mr);
        h.update(&digest);
        mr.copy_from_slice(&h.finalize());
        if ev.event == "compose-hash" {
            if compose_hash.is_some() {
                return Err(bad(i, "more than one compose-hash event".into()));
            }
            let arr: [u8; 32] = payload.as_slice().try_into().map_err(|_| {
                bad(
                    i,
                    format!(
                        "compose-hash payload has {} bytes, expected 32",
                        payload.len()
                    ),
                )
            })?;
            compose_hash = Some(arr);
        }
    }
    Ok(ReplayedRtmr3 {
        rtmr3: Measurement(mr),
        compose_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn event(name: &str, payload: &[u8]) -> DstackEvent {
        let mut h = Sha384::new();
        h.update(DSTACK_RUNTIME_EVENT_TYPE.to_le_bytes());
        h.update(b":");
        h.update(name.as_bytes());
        h.update(b":");
        h.update(payload);
        DstackEvent {
            imr: 3,
            event_type: DSTACK_RUNTIME_EVENT_TYPE,
            digest: hex::encode(h.finalize()),
            event: name.into(),
            event_payload: hex::encode(payload),
        }
    }

    #[test]
    fn replay_and_tamper() {
        let evs = vec![
            event("app-id", &[1; 20]),
            event("compose-hash", &[7; 32]),
            event("instance-id", &[2; 20]),
        ];
        let r = replay_rtmr3(&evs).unwrap();
        assert_eq!(r.compose_hash, Some([7; 32]));
        let mut bad = evs.clone();
        bad[1].event_payload = hex::encode([8u8; 32]);
        assert!(replay_rtmr3(&bad).is_err());
        let mut reordered = evs.clone();
        reordered.swap(0, 2);
        assert_ne!(replay_rtmr3(&reordered).unwrap().rtmr3, r.rtmr3);
    }

    #[test]
    fn http_parsing() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_http_response(ok).unwrap(), b"{}");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_http_response(chunked).unwrap(), b"abcde");
        let e = parse_http_response(b"HTTP/1.1 500 Internal\r\nContent-Length: 4\r\n\r\noops")
            .unwrap_err();
        assert!(e.contains("500") && e.contains("oops"), "{e}");
        assert!(parse_http_response(b"garbage").is_err());
    }

    #[test]
    fn client_talks_to_a_unix_socket_server() {
        use std::os::unix::net::UnixListener;
        let dir =
            std::env::temp_dir().join(format!("cloak-tee-dstack-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("agent.sock");
        let _ = std::fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = r#"{"app_id":"a1","instance_id":"i1","compose_hash":"cc"}"#;
            write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
            req
        });
        let body = post_json(&sock, "/Info", &serde_json::json!({})).unwrap();
        let req = server.join().unwrap();
        assert!(req.starts_with("POST /Info HTTP/1.1\r\n"), "{req}");
        let info: InfoResponse = serde_json::from_slice(&body).unwrap();
        assert_eq!(info.app_id, "a1");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
