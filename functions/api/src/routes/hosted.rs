//! Completions and embeddings of hosted models (`<provider>/<model>` in
//! `/v1/chat/completions` and `/v1/embeddings`, and the calls of jobs whose task's model
//! is hosted, relayed by their node), and the Responses API's (reshaped from a whole
//! chat answer): straight through the egress. The egress service grants the call
//! (provider, credential, limits), the egress client makes it, and the answer goes back
//! whole or streamed as the provider sends it, recorded either way.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use cynode_domain::service::egress::CallOutcome;
use cynode_domain::service::{EgressGrant, Principal};
use cynode_domain::wire::ProviderKind;
use cynode_domain::{Error, ErrorCode};

use crate::egress::openai::{prepare_chat, relabel, usage_of, whole_answer, EventStream};
use crate::egress::{self, Answer};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::stream::{self, StreamGuard};

/// A chat completion through the egress, for `user` calling directly or (`None`) for a
/// job relaying its agent's call.
pub(crate) async fn chat_completion(
    state: AppState,
    user: Option<Principal>,
    grant: EgressGrant,
    body: Value,
) -> ApiResult<Response> {
    let prepared = prepare_chat(&grant, body)?;
    // A user's stream takes its place in their quota before the provider is called.
    let guard = match (prepared.stream, &user) {
        (true, Some(user)) => Some(StreamGuard::open(&state, user).await?),
        _ => None,
    };
    let client = state.egress_client();
    let answer = match client.post_chat(&grant, &prepared.body).await {
        Ok(answer) => answer,
        Err(err) => return Err(failed(&state, &grant, err).await.into()),
    };
    match (answer, guard) {
        (Answer::Stream(response), guard) => {
            let events = EventStream::new(
                response,
                state.egress().clone(),
                grant,
                prepared.include_usage,
                client.timeout(),
            );
            Ok(match guard {
                Some(guard) => stream::respond(events, guard),
                None => stream::respond_unguarded(events),
            })
        }
        (Answer::Whole(answer), _) => {
            Ok(Json(recorded_answer(&state, &grant, answer).await).into_response())
        }
    }
}

/// A hosted model's whole chat answer to `body` (its `stream` set false), recorded: for
/// routes that reshape it (the Responses API).
pub(crate) async fn chat_answer(
    state: &AppState,
    grant: &EgressGrant,
    mut body: Value,
) -> ApiResult<Value> {
    body["stream"] = Value::Bool(false);
    // Providers refuse stream options for a whole answer.
    if let Some(fields) = body.as_object_mut() {
        fields.remove("stream_options");
    }
    let prepared = prepare_chat(grant, body)?;
    match state.egress_client().post_chat(grant, &prepared.body).await {
        Ok(Answer::Whole(answer)) => Ok(recorded_answer(state, grant, answer).await),
        Ok(Answer::Stream(_)) => {
            Err(Error::internal("a stream answered a request for a whole answer").into())
        }
        Err(err) => Err(failed(state, grant, err).await.into()),
    }
}

/// The provider's whole answer under the id the client named, recorded.
async fn recorded_answer(state: &AppState, grant: &EgressGrant, answer: Value) -> Value {
    let answer = whole_answer(grant, answer);
    let outcome = CallOutcome {
        usage: usage_of(&answer),
        failure: None,
    };
    egress::record(state.egress(), grant, outcome).await;
    answer
}

/// Embeddings through the egress: the request as the client sent it, with the
/// provider's model name; the answer under the id the client named.
pub(crate) async fn embeddings(
    state: AppState,
    grant: EgressGrant,
    mut body: Value,
) -> ApiResult<Response> {
    if grant.provider.kind == ProviderKind::Anthropic {
        return Err(Error::validation(
            ErrorCode::UnsupportedValue,
            format!(
                "provider '{}' speaks Anthropic's Messages API, which makes no embeddings",
                grant.provider.name
            ),
        )
        .with_param("model")
        .into());
    }
    body["model"] = Value::from(grant.model.name.as_str());
    let mut answer = match state.egress_client().post_embeddings(&grant, &body).await {
        Ok(Answer::Whole(answer)) => answer,
        Ok(Answer::Stream(_)) => {
            return Err(Error::internal("embeddings answered as a stream").into())
        }
        Err(err) => return Err(failed(&state, &grant, err).await.into()),
    };
    relabel(&mut answer, &grant.model_id);
    let outcome = CallOutcome {
        usage: usage_of(&answer),
        failure: None,
    };
    egress::record(state.egress(), &grant, outcome).await;
    Ok(Json(answer).into_response())
}

/// Records a failed call; the error to answer with.
async fn failed(state: &AppState, grant: &EgressGrant, err: Error) -> Error {
    let outcome = CallOutcome {
        usage: None,
        failure: Some((err.code, err.message.clone())),
    };
    egress::record(state.egress(), grant, outcome).await;
    err
}
