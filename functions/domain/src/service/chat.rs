//! `/v1/chat` threads: a user's conversations. Each message becomes a completion task
//! (see [`crate::chat`]); the thread keeps the exchange once it is answered. Waiting for
//! the answer is the HTTP layer's (it holds the client's connection).

use crate::service::write::{retry_on_conflict, Tried};
use crate::ErrorCode;
use std::sync::Arc;

use crate::chat::{Completion, Thread};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::ThreadId;
use crate::ports::ThreadStore;
use crate::principal::Principal;
use crate::service::tasks::TaskService;
use crate::task::{check_model_name, TaskInput};
use crate::wire::{ChatRequest, TaskView, ThreadList, ThreadView, AGENT_MODEL};

/// Threads listed at most.
const THREAD_LIST_LIMIT: u32 = 100;

/// Longest answer in a thread, in tokens: a thread's whole history goes back to the
/// model with every message, so unbounded answers would soon outgrow small contexts.
pub const THREAD_ANSWER_TOKENS: u32 = 512;

pub struct ChatService {
    threads: Arc<dyn ThreadStore>,
    tasks: Arc<TaskService>,
    clock: Arc<dyn Clock>,
}

fn thread_not_found(id: &ThreadId) -> Error {
    Error::not_found(ErrorCode::ThreadNotFound, format!("no thread {id}"))
}

impl ChatService {
    pub fn new(
        threads: Arc<dyn ThreadStore>,
        tasks: Arc<TaskService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            threads,
            tasks,
            clock,
        }
    }

    /// The user's thread, or the same "not found" a missing one gets. Ownership of
    /// threads has this one home.
    async fn owned(&self, principal: &Principal, id: &ThreadId) -> Result<Thread> {
        match self.threads.thread(id).await? {
            Some(thread) if thread.owner == principal.user_id => Ok(thread),
            _ => Err(thread_not_found(id)),
        }
    }

    /// Starts answering `req`: the thread it continues (new if none was named) and the
    /// completion task that answers it.
    pub async fn ask(&self, principal: &Principal, req: ChatRequest) -> Result<(Thread, TaskView)> {
        if req.message.trim().is_empty() {
            return Err(Error::validation(
                ErrorCode::EmptyPrompt,
                "message must not be empty",
            ));
        }
        let thread = match &req.thread_id {
            Some(id) => self.owned(principal, id).await?,
            None => {
                let model = req
                    .model
                    .as_deref()
                    .map(check_model_name)
                    .transpose()?
                    .unwrap_or_else(|| AGENT_MODEL.to_owned());
                Thread::new(
                    principal.user_id.clone(),
                    model,
                    &req.message,
                    self.clock.now(),
                )
            }
        };
        let completion = Completion {
            model: (thread.model != AGENT_MODEL).then(|| thread.model.clone()),
            input: TaskInput::Chat {
                messages: thread.conversation(&req.message),
                max_tokens: Some(THREAD_ANSWER_TOKENS),
                temperature: None,
                options: Default::default(),
            },
            stream: false,
            include_usage: false,
        };
        let task = self.tasks.create_completion(principal, &completion).await?;
        Ok((thread, task))
    }

    /// Keeps an answered exchange in its thread (creating the thread on its first).
    pub async fn record(
        &self,
        principal: &Principal,
        thread: Thread,
        question: &str,
        answer: &str,
    ) -> Result<Thread> {
        // The first try writes onto the thread as read; after a lost race, onto a fresh read.
        let current = std::sync::Mutex::new(thread);
        let current = &current;
        retry_on_conflict("the thread", move || async move {
            let thread = current.lock().expect("thread lock").clone();
            let next = thread.with_exchange(question, answer, self.clock.now());
            let written = Tried::written(self.threads.put_thread(&next).await, next)?;
            if let Tried::Lost = written {
                let fresh = self.owned(principal, &thread.id).await?;
                *current.lock().expect("thread lock") = fresh;
            }
            Ok(written)
        })
        .await
    }

    pub async fn list(&self, principal: &Principal) -> Result<ThreadList> {
        let threads = self
            .threads
            .list_threads(&principal.user_id, THREAD_LIST_LIMIT)
            .await?;
        Ok(ThreadList {
            threads: threads.iter().map(|t| t.view(false)).collect(),
        })
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<ThreadView> {
        let id = ThreadId::parse(id).ok_or_else(|| thread_not_found(&ThreadId::from_stored(id)))?;
        Ok(self.owned(principal, &id).await?.view(true))
    }

    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<()> {
        let id = ThreadId::parse(id).ok_or_else(|| thread_not_found(&ThreadId::from_stored(id)))?;
        let thread = self.owned(principal, &id).await?;
        self.threads.delete_thread(&thread).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use crate::service::tasks::TaskSettings;
    use time::macros::datetime;

    fn user(handle: &str) -> Principal {
        Principal::test_user(handle)
    }

    fn service() -> (ChatService, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-22 10:00 UTC)));
        let tasks = Arc::new(TaskService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            clock.clone(),
            TaskSettings::default(),
        ));
        (ChatService::new(store.clone(), tasks, clock), store)
    }

    fn ask(message: &str, thread: Option<&ThreadId>) -> ChatRequest {
        ChatRequest {
            message: message.into(),
            thread_id: thread.cloned(),
            model: None,
            stream: false,
        }
    }

    #[tokio::test]
    async fn a_thread_continues_the_conversation_and_is_its_owners_only() {
        let (chat, store) = service();
        let alice = user("alice");
        let (thread, first) = chat.ask(&alice, ask("hi", None)).await.unwrap();
        assert_eq!(thread.model, AGENT_MODEL);
        assert!(store.enqueued()[0].inference);
        let thread = chat.record(&alice, thread, "hi", "hello!").await.unwrap();
        let (same, second) = chat
            .ask(&alice, ask("and then?", Some(&thread.id)))
            .await
            .unwrap();
        assert_eq!(same.id, thread.id);
        assert_ne!(first.task_id, second.task_id);
        let input = chat
            .tasks
            .input_of(
                &chat
                    .tasks
                    .owned_task(&alice, second.task_id.as_str())
                    .await
                    .unwrap(),
            )
            .await
            .unwrap();
        let TaskInput::Chat { messages, .. } = input else {
            panic!("a chat input")
        };
        let contents: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["hi", "hello!", "and then?"]);

        let bob = user("bob");
        let err = chat
            .ask(&bob, ask("mine now", Some(&thread.id)))
            .await
            .unwrap_err();
        assert_eq!(err.code, "thread_not_found");
        assert_eq!(
            chat.get(&bob, thread.id.as_str()).await.unwrap_err().code,
            "thread_not_found"
        );
        assert!(chat.list(&bob).await.unwrap().threads.is_empty());
        assert_eq!(chat.list(&alice).await.unwrap().threads.len(), 1);
        assert_eq!(
            chat.get(&alice, thread.id.as_str())
                .await
                .unwrap()
                .messages
                .len(),
            2
        );
        chat.delete(&alice, thread.id.as_str()).await.unwrap();
        assert_eq!(
            chat.get(&alice, thread.id.as_str()).await.unwrap_err().code,
            "thread_not_found"
        );
        assert_eq!(
            chat.get(&alice, "nonsense").await.unwrap_err().code,
            "thread_not_found"
        );
    }
}
