//! Login sessions: short-lived access tokens and rotating refresh tokens.
//!
//! A login starts a session (a family of refresh tokens). Each refresh replaces the
//! presented refresh token with a new one; presenting an already-rotated token again means
//! it leaked, so the whole session is revoked. Logout revokes the session, and every
//! access token names its session, so revoked access tokens stop working at once rather
//! than when they expire. Refresh tokens are stored only as SHA-256 hashes.

use crate::ErrorCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{SessionId, UserId};
use crate::user::User;
use crate::wire::AccessClaims;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl Session {
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshState {
    Active,
    /// Replaced by a newer token: presenting it again revokes the session.
    Rotated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token, hex.
    pub hash: String,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub state: RefreshState,
    pub expires_at: Timestamp,
}

/// A new random refresh token: the secret for the client, and its stored hash.
pub fn new_refresh_token() -> Result<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| Error::internal(format!("no randomness: {err}")))?;
    let token = format!("rt_{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_refresh_token(&token);
    Ok((token, hash))
}

pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Issues and checks access tokens (HS256).
#[derive(Clone)]
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub ttl_secs: u64,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl_secs,
        }
    }

    pub fn issue(&self, user: &User, session: &SessionId, now: Timestamp) -> Result<String> {
        let claims = AccessClaims {
            sub: user.id.clone(),
            handle: user.handle.clone(),
            adm: user.is_admin,
            sid: session.clone(),
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + self.ttl_secs as i64,
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests mint expired tokens with it).
    pub fn sign(&self, claims: &AccessClaims) -> Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|err| Error::internal(format!("token signing failed: {err}")))
    }

    /// Checks signature and expiry (against `now`, not the system clock).
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<AccessClaims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .map_err(|_| {
                Error::unauthenticated(ErrorCode::InvalidToken, "access token is not valid")
            })?
            .claims;
        if claims.exp <= now.unix_timestamp() {
            return Err(Error::unauthenticated(
                ErrorCode::TokenExpired,
                "access token has expired",
            ));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn user() -> User {
        User::new(
            "alice".into(),
            String::new(),
            false,
            datetime!(2026-01-01 0:00 UTC),
        )
    }

    #[test]
    fn access_tokens_expire_and_reject_other_keys() {
        let now = datetime!(2026-11-21 10:00 UTC);
        let tokens = AccessTokens::new(b"0123456789abcdef0123456789abcdef", 60);
        let session = SessionId::generate();
        let token = tokens.issue(&user(), &session, now).unwrap();
        assert_eq!(tokens.verify(&token, now).unwrap().sid, session);
        let later = now + time::Duration::seconds(60);
        assert_eq!(
            tokens.verify(&token, later).unwrap_err().code,
            ErrorCode::TokenExpired
        );
        let other = AccessTokens::new(b"another key of thirty two bytes!", 60);
        assert_eq!(other.verify(&token, now).unwrap_err().code, "invalid_token");
        assert_eq!(
            tokens.verify("garbage", now).unwrap_err().code,
            "invalid_token"
        );
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_refresh_token().unwrap();
        let (b, _) = new_refresh_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(hash_refresh_token(&a), hash_a);
        assert!(!hash_a.contains(&a));
    }
}
