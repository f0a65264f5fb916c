//! Adapters from CyNode's ports to AWS: DynamoDB tables ([`dynamo`]), the SQS job queue
//! ([`sqs`]) and the S3 blob bucket ([`s3`]).
//!
//! Resource names come from the environment `infra/template.yaml` sets on each function
//! (locally: `.cynode/stack.env`, written by `localstack/provision` from the template's
//! outputs): `CYNODE_PREFIX` names the tables; `CYNODE_JOBS_QUEUE_URL`,
//! `CYNODE_INFERENCE_QUEUE_URL`, `CYNODE_JOBS_DLQ_URL` and `CYNODE_BLOB_BUCKET` the queues
//! and the bucket; `CYNODE_CREDENTIALS_KEY_ID` the KMS key ([`kms`]). Endpoints and credentials come from the standard AWS environment
//! (`AWS_ENDPOINT_URL` points everything at LocalStack).

pub mod dynamo;
pub mod kms;
pub mod s3;
pub mod secrets;
pub mod sqs;
pub mod sts;

use aws_config::BehaviorVersion;

/// Names of the deployment's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub prefix: String,
    pub jobs_queue_url: String,
    pub inference_queue_url: String,
    /// The dead-letter queue both job queues share.
    pub dead_letter_queue_url: String,
    pub blob_bucket: String,
    /// The KMS key that seals users' stored credentials (`CYNODE_CREDENTIALS_KEY_ID`):
    /// only the functions that store or hand out credentials are given it.
    pub credentials_key_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} is not set; it names a resource of the deployment (see the outputs of infra/template.yaml)")]
pub struct MissingSetting(pub &'static str);

impl Resources {
    pub fn from_env() -> Result<Self, MissingSetting> {
        Self::from_settings(|name| std::env::var(name).ok())
    }

    /// Reads the `CYNODE_*` resource settings from `lookup` (the environment, or a
    /// provisioned stack's outputs).
    pub fn from_settings(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MissingSetting> {
        let required = |name: &'static str| lookup(name).ok_or(MissingSetting(name));
        Ok(Self {
            prefix: lookup("CYNODE_PREFIX").unwrap_or_else(|| "cynode".into()),
            jobs_queue_url: required("CYNODE_JOBS_QUEUE_URL")?,
            inference_queue_url: required("CYNODE_INFERENCE_QUEUE_URL")?,
            dead_letter_queue_url: required("CYNODE_JOBS_DLQ_URL")?,
            blob_bucket: required("CYNODE_BLOB_BUCKET")?,
            credentials_key_id: lookup("CYNODE_CREDENTIALS_KEY_ID").filter(|id| !id.is_empty()),
        })
    }

    pub fn table(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }
}

/// Clients for every service, built once per process from one shared AWS configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: secrets::SecretStore,
    pub sts: aws_sdk_sts::Client,
    pub kms: aws_sdk_kms::Client,
}

impl Clients {
    pub async fn from_env() -> Self {
        // Without timeouts a store that stops answering would hold every request (and a
        // Lambda invocation) until it answers again; with them it is a quick 503.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(3))
            .operation_attempt_timeout(std::time::Duration::from_secs(5))
            .operation_timeout(std::time::Duration::from_secs(12))
            .build();
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .load()
            .await;
        // LocalStack (any custom endpoint) serves buckets by path, not by host name.
        let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let s3_config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&shared),
            sqs: aws_sdk_sqs::Client::new(&shared),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            secrets: secrets::SecretStore::new(aws_sdk_secretsmanager::Client::new(&shared)),
            sts: aws_sdk_sts::Client::new(&shared),
            kms: aws_sdk_kms::Client::new(&shared),
        }
    }
}

/// Every adapter of one deployment.
#[derive(Debug, Clone)]
pub struct Adapters {
    pub users: dynamo::DynamoUsers,
    pub sessions: dynamo::DynamoSessions,
    pub api_keys: dynamo::DynamoApiKeys,
    pub tasks: dynamo::DynamoTasks,
    pub logs: dynamo::DynamoLogs,
    pub threads: dynamo::DynamoThreads,
    pub nodes: dynamo::DynamoNodes,
    pub projects: dynamo::DynamoProjects,
    pub credentials: dynamo::DynamoCredentials,
    /// `None` where no credentials key is configured.
    pub cipher: Option<kms::KmsCipher>,
    pub preferences: dynamo::DynamoPreferences,
    pub audit: dynamo::DynamoAudit,
    pub settings: dynamo::DynamoSettings,
    pub skills: dynamo::DynamoSkills,
    pub providers: dynamo::DynamoProviders,
    pub streams: dynamo::DynamoStreams,
    pub usage: dynamo::DynamoUsage,
    pub queue: sqs::SqsJobQueue,
    pub blobs: s3::S3Blobs,
}

impl Adapters {
    pub fn new(clients: &Clients, resources: &Resources) -> Self {
        let db = &clients.dynamodb;
        Self {
            users: dynamo::DynamoUsers::new(db.clone(), resources.table("users")),
            sessions: dynamo::DynamoSessions::new(db.clone(), resources.table("sessions")),
            api_keys: dynamo::DynamoApiKeys::new(db.clone(), resources.table("sessions")),
            tasks: dynamo::DynamoTasks::new(db.clone(), resources.table("tasks")),
            logs: dynamo::DynamoLogs::new(db.clone(), resources.table("tasks")),
            threads: dynamo::DynamoThreads::new(db.clone(), resources.table("tasks")),
            nodes: dynamo::DynamoNodes::new(db.clone(), resources.table("nodes")),
            projects: dynamo::DynamoProjects::new(
                db.clone(),
                resources.table("tasks"),
                resources.table("credentials"),
            ),
            credentials: dynamo::DynamoCredentials::new(
                db.clone(),
                resources.table("tasks"),
                resources.table("credentials"),
            ),
            cipher: resources
                .credentials_key_id
                .clone()
                .map(|key| kms::KmsCipher::new(clients.kms.clone(), key)),
            preferences: dynamo::DynamoPreferences::new(db.clone(), resources.table("tasks")),
            audit: dynamo::DynamoAudit::new(db.clone(), resources.table("audit")),
            settings: dynamo::DynamoSettings::new(db.clone(), resources.table("users")),
            skills: dynamo::DynamoSkills::new(db.clone(), resources.table("tasks")),
            providers: dynamo::DynamoProviders::new(db.clone(), resources.table("tasks")),
            streams: dynamo::DynamoStreams::new(db.clone(), resources.table("tasks")),
            usage: dynamo::DynamoUsage::new(db.clone(), resources.table("tasks")),
            queue: sqs::SqsJobQueue::new(
                clients.sqs.clone(),
                resources.jobs_queue_url.clone(),
                resources.inference_queue_url.clone(),
                resources.dead_letter_queue_url.clone(),
            ),
            blobs: s3::S3Blobs::new(clients.s3.clone(), resources.blob_bucket.clone()),
        }
    }
}
