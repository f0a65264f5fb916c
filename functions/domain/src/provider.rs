//! Hosted model providers: outside APIs an admin registers, whose models users reach as
//! `<provider>/<model>` through the egress, with a stored credential attached (their
//! own, or an admin's for everyone). What a provider may be is checked here: a name, a
//! kind, an `https` base URL (plain `http` only for hosts the deployment allows, such as
//! a vLLM on the local network) that carries no credentials of its own, and models with
//! prices.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::task::normalize_name;
use crate::wire::{
    AttachScope, AttachedCredential, CreateProviderRequest, ProviderKind, ProviderModel,
    ProviderView,
};
use crate::ErrorCode;

/// Models one provider may list.
pub const MAX_PROVIDER_MODELS: usize = 64;
/// Longest model name (a provider's own: OpenRouter's hold a `/`).
pub const MAX_MODEL_NAME_CHARS: usize = 128;
/// Longest base URL.
pub const MAX_BASE_URL_CHARS: usize = 512;
/// The dearest price accepted, in US dollars per million tokens (a typo guard).
pub const MAX_USD_PER_MTOK: f64 = 1000.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// Lowercase words joined by dashes: the `<provider>` of `<provider>/<model>`.
    pub name: String,
    pub kind: ProviderKind,
    /// Without a trailing slash.
    pub base_url: String,
    pub models: Vec<ProviderModel>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::validation(ErrorCode::InvalidProvider, message)
}

impl Provider {
    /// A provider from an admin's request, checked. `plain_http_hosts` are the hosts
    /// whose base URL may be plain `http` (the deployment's
    /// `CYNODE_EGRESS_PLAIN_HTTP_HOSTS`).
    pub fn new(
        req: CreateProviderRequest,
        plain_http_hosts: &[String],
        now: Timestamp,
    ) -> Result<Provider> {
        let name = normalize_name(&req.name, ErrorCode::InvalidProvider, "name")?;
        let base_url = check_base_url(&req.base_url, plain_http_hosts)?;
        if req.models.is_empty() || req.models.len() > MAX_PROVIDER_MODELS {
            return Err(invalid(format!(
                "a provider offers 1 to {MAX_PROVIDER_MODELS} models"
            )));
        }
        let mut models: Vec<ProviderModel> = Vec::with_capacity(req.models.len());
        for model in req.models {
            let model = check_model(model)?;
            if models.iter().any(|m| m.name == model.name) {
                return Err(invalid(format!("model '{}' is listed twice", model.name)));
            }
            models.push(model);
        }
        Ok(Provider {
            name,
            kind: req.kind,
            base_url,
            models,
            created_at: now,
            updated_at: now,
        })
    }

    pub fn model(&self, name: &str) -> Option<&ProviderModel> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The view a caller gets, with the credential their calls would use.
    pub fn view(&self, credential: Option<&ProviderCredential>) -> ProviderView {
        ProviderView {
            name: self.name.clone(),
            kind: self.kind,
            base_url: self.base_url.clone(),
            models: self.models.clone(),
            credential: credential.map(|c| AttachedCredential {
                scope: c.scope(),
                credential_name: c.credential_name.clone(),
                attached_at: c.attached_at,
            }),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// `https://host[:port][/path]`, or `http://` for an allowed host; no user or password,
/// query or fragment. Returned without a trailing slash.
pub fn check_base_url(raw: &str, plain_http_hosts: &[String]) -> Result<String> {
    let url = raw.trim();
    if url.chars().count() > MAX_BASE_URL_CHARS {
        return Err(invalid(format!(
            "base_url is longer than {MAX_BASE_URL_CHARS} characters"
        )));
    }
    let (plain, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (false, rest),
        (None, Some(rest)) => (true, rest),
        _ => return Err(invalid("base_url must start with https://")),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if rest.contains(['?', '#', ' ', '\\']) || rest.chars().any(char::is_control) {
        return Err(invalid(
            "base_url may not hold a query, a fragment, spaces or backslashes",
        ));
    }
    if authority.contains('@') {
        return Err(invalid(
            "base_url may not carry a user or password: attach a stored credential instead",
        ));
    }
    let host = host_of(authority)?;
    if plain
        && !plain_http_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(&host))
    {
        return Err(invalid(format!(
            "base_url must be https://; plain http is allowed only for the hosts the deployment lists in CYNODE_EGRESS_PLAIN_HTTP_HOSTS, and '{host}' is not one"
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The host of `host[:port]` (or `[v6]:port`), checked for allowed characters.
fn host_of(authority: &str) -> Result<String> {
    let bad = || invalid(format!("base_url has no valid host: '{authority}'"));
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
            }
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if let Some(port) = port {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(bad());
        }
    }
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
    {
        return Err(bad());
    }
    Ok(host.to_ascii_lowercase())
}

fn check_model(model: ProviderModel) -> Result<ProviderModel> {
    let name = model.name.trim().to_owned();
    if name.is_empty()
        || name.chars().count() > MAX_MODEL_NAME_CHARS
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/'))
    {
        return Err(invalid(format!(
            "model name '{}' must be 1 to {MAX_MODEL_NAME_CHARS} of letters, digits, '.', '-', '_', ':' and '/'",
            model.name.chars().take(40).collect::<String>()
        )));
    }
    for (what, price) in [
        ("input_usd_per_mtok", model.input_usd_per_mtok),
        ("output_usd_per_mtok", model.output_usd_per_mtok),
    ] {
        if !price.is_finite() || !(0.0..=MAX_USD_PER_MTOK).contains(&price) {
            return Err(invalid(format!(
                "{what} of '{name}' must be 0 to {MAX_USD_PER_MTOK} (US dollars per million tokens)"
            )));
        }
    }
    Ok(ProviderModel { name, ..model })
}

/// `<provider>/<model>` split at its first `/` (a provider's model may hold more).
pub fn split_model_id(id: &str) -> Option<(&str, &str)> {
    let (provider, model) = id.split_once('/')?;
    (!provider.is_empty() && !model.is_empty()).then_some((provider, model))
}

/// What a call costs, in US dollars, at the model's prices.
pub fn cost_usd(model: &ProviderModel, prompt_tokens: u64, completion_tokens: u64) -> f64 {
    (prompt_tokens as f64 * model.input_usd_per_mtok
        + completion_tokens as f64 * model.output_usd_per_mtok)
        / 1_000_000.0
}

/// A stored credential attached to a provider: a user's own (`owner` theirs), or the
/// system's (`for_everyone`, an admin's credential used by whoever has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCredential {
    pub provider: String,
    /// Whose stored credential it is.
    pub owner: UserId,
    pub credential_name: String,
    pub for_everyone: bool,
    pub attached_at: Timestamp,
}

impl ProviderCredential {
    pub fn scope(&self) -> AttachScope {
        match self.for_everyone {
            true => AttachScope::System,
            false => AttachScope::User,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(base_url: &str, models: &[(&str, f64, f64)]) -> CreateProviderRequest {
        CreateProviderRequest {
            name: "Open Router".into(),
            kind: ProviderKind::Openai,
            base_url: base_url.into(),
            models: models
                .iter()
                .map(|(name, input, output)| ProviderModel {
                    name: (*name).into(),
                    input_usd_per_mtok: *input,
                    output_usd_per_mtok: *output,
                })
                .collect(),
        }
    }

    fn now() -> Timestamp {
        time::OffsetDateTime::UNIX_EPOCH
    }

    #[test]
    fn a_provider_is_named_and_its_url_kept_without_a_trailing_slash() {
        let provider = Provider::new(
            request(
                "https://openrouter.ai/api/v1/",
                &[("meta-llama/llama-3.1-8b", 0.05, 0.08)],
            ),
            &[],
            now(),
        )
        .unwrap();
        assert_eq!(provider.name, "open-router");
        assert_eq!(provider.base_url, "https://openrouter.ai/api/v1");
        assert!(provider.model("meta-llama/llama-3.1-8b").is_some());
    }

    #[test]
    fn urls_that_would_leak_or_mislead_are_refused() {
        for url in [
            "http://api.example.com/v1",
            "ftp://api.example.com",
            "https://user:key@api.example.com/v1",
            "https://api.example.com/v1?key=abc",
            "https://api.example.com/v1#x",
            "https:///v1",
            "https://exa mple.com",
            "https://api.example.com:99999/v1",
            "api.example.com",
        ] {
            let err = Provider::new(request(url, &[("m", 1.0, 1.0)]), &[], now()).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidProvider, "{url}");
        }
    }

    #[test]
    fn plain_http_only_for_allowed_hosts() {
        let allowed = vec!["vllm.lan".to_owned()];
        assert!(check_base_url("http://vllm.lan:8000/v1", &allowed).is_ok());
        assert!(check_base_url("http://VLLM.lan/v1", &allowed).is_ok());
        assert!(check_base_url("http://vllm.lan.evil.com/v1", &allowed).is_err());
        assert!(check_base_url("http://other.lan/v1", &allowed).is_err());
    }

    #[test]
    fn models_need_names_and_sane_prices() {
        for models in [
            vec![],
            vec![("bad name", 1.0, 1.0)],
            vec![("m", -1.0, 1.0)],
            vec![("m", 1.0, f64::NAN)],
            vec![("m", 1.0, 5000.0)],
            vec![("m", 1.0, 1.0), ("m", 2.0, 2.0)],
        ] {
            let result = Provider::new(request("https://a.example/v1", &models), &[], now());
            assert!(result.is_err(), "{models:?}");
        }
    }

    #[test]
    fn model_ids_split_at_the_first_slash_and_cost_follows_the_prices() {
        assert_eq!(
            split_model_id("router/meta-llama/llama-3.1-8b"),
            Some(("router", "meta-llama/llama-3.1-8b"))
        );
        assert_eq!(split_model_id("smollm2:135m"), None);
        assert_eq!(split_model_id("/m"), None);
        let model = ProviderModel {
            name: "m".into(),
            input_usd_per_mtok: 2.0,
            output_usd_per_mtok: 8.0,
        };
        assert!((cost_usd(&model, 1_000_000, 500_000) - 6.0).abs() < 1e-9);
    }
}
