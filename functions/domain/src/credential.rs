//! Stored credentials: a user's secrets for outbound services (a forge token for planned
//! work's pushes, a model provider's API key for the egress), kept by name. The value is
//! sealed (encrypted) before it is stored, bound to its owner and to the credential's id
//! ([`SealContext`]), written beside the credential and never read back by the routes
//! that wrote it: only the claim that hands a job its project's credential opens it, and a
//! view never holds it.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{CredentialId, UserId};
use crate::project::check_credential_text;
use crate::task::normalize_name;
use crate::wire::{CreateCredentialRequest, CredentialView, UpdateCredentialRequest};
use crate::ErrorCode;

/// Longest provider name (`github`, `openai`, `anthropic`, …).
pub const MAX_PROVIDER_CHARS: usize = 32;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// A stored credential without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    pub id: CredentialId,
    pub owner: UserId,
    /// Lowercase words joined by dashes, unique per owner.
    pub name: String,
    pub provider: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub rotated_at: Option<Timestamp>,
    /// Optimistic-concurrency version (1 when made).
    pub version: u64,
}

/// What a sealed value is bound to: opening it under any other context fails, so a value
/// copied onto another user's or another credential's item opens nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealContext {
    pub owner: UserId,
    pub credential: CredentialId,
}

impl SealContext {
    /// The context as name–value pairs (KMS's encryption context).
    pub fn pairs(&self) -> [(&'static str, &str); 2] {
        [
            ("cynode:owner", self.owner.as_str()),
            ("cynode:credential", self.credential.as_str()),
        ]
    }
}

/// A sealed value: opaque bytes only a [`crate::ports::CredentialCipher`] opens.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

fn invalid(code: ErrorCode, message: impl Into<String>) -> Error {
    Error::validation(code, message)
}

/// A provider name: lowercase letters, digits and dashes, starting with a letter.
pub fn check_provider(provider: &str) -> Result<String> {
    let provider = provider.trim();
    let ok = !provider.is_empty()
        && provider.len() <= MAX_PROVIDER_CHARS
        && provider.starts_with(|c: char| c.is_ascii_lowercase())
        && provider
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(provider.to_owned())
    } else {
        Err(invalid(
            ErrorCode::InvalidProvider,
            format!(
                "provider must be lowercase letters, digits and dashes, starting with a letter, at most {MAX_PROVIDER_CHARS} (e.g. github, openai)"
            ),
        ))
    }
}

fn check_description(description: &str) -> Result<Option<String>> {
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION_CHARS || description.contains(char::is_control)
    {
        return Err(invalid(
            ErrorCode::InvalidCredential,
            format!("description must be one line of at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok((!description.is_empty()).then(|| description.to_owned()))
}

/// A credential name from a request or a path: normalized like task names.
pub fn credential_name(raw: &str) -> Result<String> {
    normalize_name(raw, ErrorCode::InvalidCredential, "name")
}

impl StoredCredential {
    /// A new credential from a request, checked (the value too: sealing it is the
    /// service's).
    pub fn create(owner: &UserId, req: &CreateCredentialRequest, now: Timestamp) -> Result<Self> {
        let name = credential_name(&req.name)?;
        let provider = check_provider(&req.provider)?;
        let description = match &req.description {
            Some(text) => check_description(text)?,
            None => None,
        };
        check_credential_text(&req.value, "value")?;
        Ok(Self {
            id: CredentialId::generate(),
            owner: owner.clone(),
            name,
            provider,
            description,
            enabled: true,
            created_at: now,
            updated_at: now,
            rotated_at: None,
            version: 1,
        })
    }

    /// The credential with a request's changes, versioned; `None` when nothing changes.
    pub fn updated(&self, req: &UpdateCredentialRequest, now: Timestamp) -> Result<Option<Self>> {
        if req.enabled.is_none() && req.description.is_none() {
            return Err(invalid(
                ErrorCode::EmptyUpdate,
                "give enabled or description to change",
            ));
        }
        let mut next = self.clone();
        if let Some(enabled) = req.enabled {
            next.enabled = enabled;
        }
        if let Some(text) = &req.description {
            next.description = check_description(text)?;
        }
        if next == *self {
            return Ok(None);
        }
        next.updated_at = now;
        next.version += 1;
        Ok(Some(next))
    }

    /// The credential once its value is replaced.
    pub fn rotated(&self, now: Timestamp) -> Self {
        Self {
            updated_at: now,
            rotated_at: Some(now),
            version: self.version + 1,
            ..self.clone()
        }
    }

    pub fn seal_context(&self) -> SealContext {
        SealContext {
            owner: self.owner.clone(),
            credential: self.id.clone(),
        }
    }

    pub fn view(&self) -> CredentialView {
        CredentialView {
            name: self.name.clone(),
            provider: self.provider.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
            rotated_at: self.rotated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn request(value: &str) -> CreateCredentialRequest {
        CreateCredentialRequest {
            name: "GitHub Bot".into(),
            provider: "github".into(),
            value: value.into(),
            description: Some(" pushes planned work ".into()),
        }
    }

    #[test]
    fn a_credential_is_named_checked_and_its_view_has_no_value() {
        let now = datetime!(2026-12-07 00:00 UTC);
        let made =
            StoredCredential::create(&UserId::generate(), &request("ghp_s3cret"), now).unwrap();
        assert_eq!(
            (
                made.name.as_str(),
                made.description.as_deref(),
                made.enabled
            ),
            ("github-bot", Some("pushes planned work"), true)
        );
        let view = serde_json::to_string(&made.view()).unwrap();
        assert!(!view.contains("ghp_s3cret"), "{view}");
        let debug = format!("{:?}", request("ghp_s3cret"));
        assert!(!debug.contains("ghp_s3cret"), "{debug}");

        for (value, provider) in [
            ("", "github"),
            ("a\nb", "github"),
            ("t", "GitHub"),
            ("t", "-x"),
        ] {
            let mut req = request(value);
            req.provider = provider.into();
            let err = StoredCredential::create(&UserId::generate(), &req, now).unwrap_err();
            let expected = if value == "t" {
                ErrorCode::InvalidProvider
            } else {
                ErrorCode::InvalidCredential
            };
            assert_eq!(err.code, expected, "{value:?} {provider:?}");
        }
        let long = "x".repeat(crate::project::MAX_CREDENTIAL_CHARS + 1);
        assert!(StoredCredential::create(&UserId::generate(), &request(&long), now).is_err());
        let key =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----";
        assert!(StoredCredential::create(&UserId::generate(), &request(key), now).is_ok());
    }

    #[test]
    fn disabling_rotating_and_describing_bump_the_version_and_a_no_op_changes_nothing() {
        let now = datetime!(2026-12-07 00:00 UTC);
        let later = datetime!(2026-12-08 00:00 UTC);
        let made = StoredCredential::create(&UserId::generate(), &request("t"), now).unwrap();
        let disabled = made
            .updated(
                &UpdateCredentialRequest {
                    enabled: Some(false),
                    description: Some(String::new()),
                },
                later,
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                disabled.enabled,
                disabled.description.clone(),
                disabled.version
            ),
            (false, None, 2)
        );
        let same = UpdateCredentialRequest {
            enabled: Some(false),
            description: None,
        };
        assert_eq!(disabled.updated(&same, later).unwrap(), None);
        let err = made
            .updated(&UpdateCredentialRequest::default(), later)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::EmptyUpdate);
        let rotated = disabled.rotated(later);
        assert_eq!(
            (rotated.rotated_at, rotated.version, rotated.id == made.id),
            (Some(later), 3, true)
        );
        assert_eq!(
            made.seal_context().pairs()[1],
            ("cynode:credential", made.id.as_str())
        );
    }
}
