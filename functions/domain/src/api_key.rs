//! Personal API keys: what a key is, how its secret is made and recognised, and the rules
//! for creating one. A key's secret is `cyk_<key id>_<random>`: the id finds the stored
//! key in one read, and only the secret's SHA-256 is stored, so a leaked table leaks no
//! key. Whether a key still works is checked on every request (revoking takes effect at
//! once).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use time::Duration;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{ApiKeyId, UserId};
use crate::wire::{ApiKeyScope, ApiKeyView, CreateApiKeyRequest};
use crate::ErrorCode;

/// What every key's secret starts with, so scanners and people recognise one.
pub const KEY_PREFIX: &str = "cyk_";
/// Keys one user may hold that are not revoked.
pub const MAX_KEYS_PER_USER: usize = 50;
const MAX_NAME_CHARS: usize = 64;
const MAX_EXPIRY_DAYS: u32 = 3650;
/// How many characters of the secret a listing shows.
const SHOWN_PREFIX_CHARS: usize = KEY_PREFIX.len() + 8;
/// Last use is written at most this often per key, not on every request.
pub const LAST_USED_GRANULARITY_SECS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: String,
    pub scope: ApiKeyScope,
    /// SHA-256 of the whole secret, hex.
    pub hash: String,
    /// The secret's first characters.
    pub prefix: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiKey {
    /// A new key for `user` from a checked request, and its secret (shown once).
    pub fn create(
        user: &UserId,
        req: &CreateApiKeyRequest,
        now: Timestamp,
    ) -> Result<(ApiKey, String)> {
        let name = check_name(&req.name)?;
        let expires_at = match req.expires_in_days {
            None => None,
            Some(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => {
                Some(now + Duration::days(i64::from(days)))
            }
            Some(days) => {
                return Err(Error::validation(
                    ErrorCode::InvalidExpiry,
                    format!("expires_in_days is {days}; it must be 1 to {MAX_EXPIRY_DAYS}, or left out for a key that works until revoked"),
                )
                .with_param("expires_in_days"))
            }
        };
        let id = ApiKeyId::generate();
        let mut random = [0u8; 32];
        getrandom::fill(&mut random)
            .map_err(|err| Error::internal(format!("no randomness: {err}")))?;
        let secret = format!("{KEY_PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(random));
        let key = ApiKey {
            id,
            user_id: user.clone(),
            name,
            scope: req.scope,
            hash: hash_secret(&secret),
            prefix: secret.chars().take(SHOWN_PREFIX_CHARS).collect(),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        Ok((key, secret))
    }

    /// Why the key does not work at `now`, if it does not.
    pub fn refusal(&self, now: Timestamp) -> Option<Error> {
        if self.revoked_at.is_some() {
            return Some(Error::unauthenticated(
                ErrorCode::ApiKeyRevoked,
                "this API key has been revoked",
            ));
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Some(Error::unauthenticated(
                ErrorCode::ApiKeyExpired,
                "this API key has expired; create a new one",
            ));
        }
        None
    }

    /// Whether a use at `now` should be written down (see [`LAST_USED_GRANULARITY_SECS`]).
    pub fn use_is_news(&self, now: Timestamp) -> bool {
        self.last_used_at
            .is_none_or(|at| (now - at).whole_seconds() >= LAST_USED_GRANULARITY_SECS)
    }

    pub fn view(&self) -> ApiKeyView {
        ApiKeyView {
            id: self.id.clone(),
            name: self.name.clone(),
            scope: self.scope,
            prefix: self.prefix.clone(),
            user_id: self.user_id.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        }
    }
}

/// Whether a bearer credential is an API key rather than an access token.
pub fn is_api_key(bearer: &str) -> bool {
    bearer.starts_with(KEY_PREFIX)
}

/// The key id a secret names, if it is shaped like one of ours.
pub fn key_id_of(secret: &str) -> Option<ApiKeyId> {
    let rest = secret.strip_prefix(KEY_PREFIX)?;
    let id_len = ApiKeyId::PREFIX.len() + 26;
    let id = rest.get(..id_len)?;
    rest.get(id_len..)?.strip_prefix('_')?;
    ApiKeyId::parse(id)
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(Error::validation(
            ErrorCode::InvalidApiKeyName,
            format!("an API key's name is 1 to {MAX_NAME_CHARS} printable characters"),
        )
        .with_param("name"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: Timestamp = datetime!(2026-12-05 10:00 UTC);

    fn request(name: &str, days: Option<u32>) -> CreateApiKeyRequest {
        CreateApiKeyRequest {
            name: name.into(),
            scope: ApiKeyScope::Models,
            expires_in_days: days,
        }
    }

    #[test]
    fn a_secret_names_its_key_and_only_its_hash_is_kept() {
        let user = UserId::generate();
        let (key, secret) = ApiKey::create(&user, &request(" editor ", Some(30)), NOW).unwrap();
        assert!(is_api_key(&secret));
        assert_eq!(key_id_of(&secret), Some(key.id.clone()));
        assert_eq!(key.hash, hash_secret(&secret));
        assert!(!key.hash.contains(&secret[KEY_PREFIX.len()..]));
        assert!(secret.starts_with(&key.prefix) && key.prefix.len() < secret.len() / 2);
        assert_eq!(key.name, "editor");
        assert_eq!(key.expires_at, Some(datetime!(2027-01-04 10:00 UTC)));
        let (other, other_secret) = ApiKey::create(&user, &request("editor", None), NOW).unwrap();
        assert_ne!((other.id, other_secret), (key.id, secret));
    }

    #[test]
    fn malformed_secrets_name_no_key() {
        let (_, secret) = ApiKey::create(&UserId::generate(), &request("k", None), NOW).unwrap();
        for text in [
            "",
            "cyk_",
            "cyk_key_nonsense_abc",
            &secret[..secret.len() - 44],
            &secret.replacen("cyk_", "cyx_", 1),
            "eyJhbGciOiJIUzI1NiJ9.e30.sig",
        ] {
            assert_eq!(key_id_of(text), None, "{text}");
        }
    }

    #[test]
    fn names_and_expiries_out_of_range_are_refused_naming_the_field() {
        let user = UserId::generate();
        for (req, code, param) in [
            (request("", None), ErrorCode::InvalidApiKeyName, "name"),
            (
                request(&"x".repeat(65), None),
                ErrorCode::InvalidApiKeyName,
                "name",
            ),
            (request("a\nb", None), ErrorCode::InvalidApiKeyName, "name"),
            (
                request("k", Some(0)),
                ErrorCode::InvalidExpiry,
                "expires_in_days",
            ),
            (
                request("k", Some(3651)),
                ErrorCode::InvalidExpiry,
                "expires_in_days",
            ),
        ] {
            let err = ApiKey::create(&user, &req, NOW).unwrap_err();
            assert_eq!((err.code, err.param.as_deref()), (code, Some(param)));
        }
    }

    #[test]
    fn a_key_stops_working_when_revoked_or_expired_and_uses_are_written_once_a_minute() {
        let (mut key, _) =
            ApiKey::create(&UserId::generate(), &request("k", Some(1)), NOW).unwrap();
        assert!(key.refusal(NOW).is_none());
        let day_later = NOW + Duration::days(1);
        assert_eq!(
            key.refusal(day_later).unwrap().code,
            ErrorCode::ApiKeyExpired
        );
        key.revoked_at = Some(NOW);
        assert_eq!(key.refusal(NOW).unwrap().code, ErrorCode::ApiKeyRevoked);

        assert!(key.use_is_news(NOW));
        key.last_used_at = Some(NOW);
        assert!(!key.use_is_news(NOW + Duration::seconds(59)));
        assert!(key.use_is_news(NOW + Duration::seconds(60)));
    }
}
