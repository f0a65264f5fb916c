//! Signed requests from edge nodes to the gateway.
//!
//! Every node request carries four headers: the node id, a unix timestamp, a random
//! nonce, and `v1=<hex HMAC-SHA256>` over a canonical string of method, path, timestamp,
//! nonce and the SHA-256 of the body. The key is the node's key for node routes, and the per-claim job
//! token for a job's heartbeat and result, so a node can only report on jobs it claimed.
//! Both keys are derived from the gateway's master secret: nothing secret is stored.
//!
//! Replay protection is two-part: a timestamp outside the window is refused here, and the
//! gateway remembers each signature it accepted for the length of the window.

use crate::wire::ErrorCode;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{JobId, LeaseId, NodeId};
use crate::limits::CALLBACK_REPLAY_WINDOW_SECS;

/// Why a signed request was refused; `code` is the error code the gateway answers with
/// (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SignatureError {
    pub code: ErrorCode,
    pub message: String,
}

impl SignatureError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

pub const HEADER_NODE: &str = "x-cynode-node";
pub const HEADER_TIMESTAMP: &str = "x-cynode-timestamp";
pub const HEADER_NONCE: &str = "x-cynode-nonce";
pub const HEADER_SIGNATURE: &str = "x-cynode-signature";

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The key a node signs its requests with, derived from the gateway's master secret.
pub fn node_key(master_secret: &[u8], node: &NodeId) -> String {
    hex::encode(hmac(
        master_secret,
        &[b"cynode-node-key:v1:", node.as_str().as_bytes()],
    ))
}

/// The key for the heartbeat and result callbacks of one claim of a job.
pub fn job_token(node_key_hex: &str, job: &JobId, lease: &LeaseId) -> String {
    hex::encode(hmac(
        node_key_hex.as_bytes(),
        &[
            b"cynode-job-token:v1:",
            job.as_str().as_bytes(),
            b":",
            lease.as_str().as_bytes(),
        ],
    ))
}

/// The gateway's master secret for node keys, with the derivations the gateway needs.
#[derive(Clone)]
pub struct NodeKeys(Vec<u8>);

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeKeys(..)")
    }
}

impl NodeKeys {
    pub fn new(master_secret: impl Into<Vec<u8>>) -> Self {
        Self(master_secret.into())
    }
    pub fn node_key(&self, node: &NodeId) -> String {
        node_key(&self.0, node)
    }
    pub fn job_token(&self, node: &NodeId, job: &JobId, lease: &LeaseId) -> String {
        job_token(&self.node_key(node), job, lease)
    }

    /// The key node routes are signed with in one generation of the node's identity.
    /// Every registration starts a new generation, so a key an earlier registration
    /// handed out (to a machine since replaced, or cloned) stops working. Job tokens stay
    /// on [`NodeKeys::node_key`]: results a node kept on disk across its restart still
    /// go through.
    pub fn session_key(&self, node: &NodeId, generation: u32) -> String {
        hex::encode(hmac(
            &self.0,
            &[
                b"cynode-node-session:v1:",
                node.as_str().as_bytes(),
                b":",
                generation.to_string().as_bytes(),
            ],
        ))
    }
}

/// The parts of a request that its signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub timestamp: i64,
    pub nonce: &'a str,
    pub body: &'a [u8],
}

fn canonical(req: &Signed<'_>) -> Vec<u8> {
    let body_hash = hex::encode(Sha256::digest(req.body));
    format!(
        "v1\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        req.path,
        req.timestamp,
        req.nonce,
        body_hash
    )
    .into_bytes()
}

/// A fresh random nonce for a request.
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    hex::encode(bytes)
}

/// The `x-cynode-signature` header value for a request.
pub fn sign(key_hex: &str, req: &Signed<'_>) -> String {
    let mac = hmac(key_hex.as_bytes(), &[&canonical(req)]);
    format!("v1={}", hex::encode(mac))
}

/// Checks a signature, its timestamp and nonce. `now` is unix seconds.
pub fn verify(
    key_hex: &str,
    req: &Signed<'_>,
    signature: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = req.timestamp;
    if req.nonce.is_empty() || req.nonce.len() > 64 {
        return Err(SignatureError::new(
            ErrorCode::BadSignature,
            "x-cynode-nonce must be 1-64 characters",
        ));
    }
    // abs_diff: any i64 the header carries, however extreme, compares without overflow.
    if now.abs_diff(timestamp) > CALLBACK_REPLAY_WINDOW_SECS.unsigned_abs() {
        return Err(SignatureError::new(
            ErrorCode::StaleSignature,
            format!(
                "request timestamp is more than {CALLBACK_REPLAY_WINDOW_SECS}s from the gateway's clock"
            ),
        ));
    }
    let expected = sign(key_hex, req);
    if expected.as_bytes().ct_eq(signature.as_bytes()).into() {
        Ok(())
    } else {
        Err(SignatureError::new(
            ErrorCode::BadSignature,
            "request signature does not match",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn request<'a>(path: &'a str, timestamp: i64, nonce: &'a str, body: &'a [u8]) -> Signed<'a> {
        Signed {
            method: "POST",
            path,
            timestamp,
            nonce,
            body,
        }
    }

    #[test]
    fn a_signature_verifies_only_for_the_same_request_and_key() {
        let key = node_key(b"master", &NodeId::from_stored("node_a"));
        let sig = sign(&key, &request("/v1/jobs/j/result", NOW, "n1", b"{}"));
        let lowercase = Signed {
            method: "post",
            ..request("/v1/jobs/j/result", NOW, "n1", b"{}")
        };
        assert!(verify(&key, &lowercase, &sig, NOW).is_ok());

        let other_key = node_key(b"master", &NodeId::from_stored("node_b"));
        for (key, req) in [
            (
                other_key.as_str(),
                request("/v1/jobs/j/result", NOW, "n1", b"{}"),
            ),
            (key.as_str(), request("/v1/jobs/k/result", NOW, "n1", b"{}")),
            (
                key.as_str(),
                request("/v1/jobs/j/result", NOW, "n1", b"{ }"),
            ),
            (key.as_str(), request("/v1/jobs/j/result", NOW, "n2", b"{}")),
        ] {
            assert_eq!(
                verify(key, &req, &sig, NOW).unwrap_err().code,
                "bad_signature"
            );
        }
    }

    #[test]
    fn timestamps_outside_the_window_are_refused_before_the_signature_is_checked() {
        let key = "k";
        let old = request("/p", NOW - CALLBACK_REPLAY_WINDOW_SECS - 1, "n", b"");
        assert_eq!(
            verify(key, &old, &sign(key, &old), NOW).unwrap_err().code,
            "stale_signature"
        );
        let edge = request("/p", NOW - CALLBACK_REPLAY_WINDOW_SECS, "n", b"");
        assert!(verify(key, &edge, &sign(key, &edge), NOW).is_ok());
        for extreme in [i64::MIN, i64::MAX] {
            let hostile = request("/p", extreme, "n", b"");
            assert_eq!(
                verify(key, &hostile, "x", NOW).unwrap_err().code,
                "stale_signature",
                "timestamp {extreme}"
            );
        }
        let no_nonce = request("/p", NOW, "", b"");
        assert_eq!(
            verify(key, &no_nonce, &sign(key, &no_nonce), NOW)
                .unwrap_err()
                .code,
            "bad_signature"
        );
    }

    #[test]
    fn job_tokens_differ_per_lease() {
        let key = node_key(b"master", &NodeId::from_stored("node_a"));
        let job = JobId::from_stored("job_1");
        let first = job_token(&key, &job, &LeaseId::from_stored("lease_1"));
        let second = job_token(&key, &job, &LeaseId::from_stored("lease_2"));
        assert_ne!(first, second);
        assert_eq!(
            first,
            job_token(&key, &job, &LeaseId::from_stored("lease_1"))
        );
    }
}
