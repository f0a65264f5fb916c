//! Projects, in the tasks table, one partition per owner (every lookup is an owner's),
//! and their credentials in a table of their own:
//!
//! | item         | table         | pk                     | sk                     |
//! |--------------|---------------|------------------------|------------------------|
//! | project      | tasks         | `PROJECTS#<owner>`     | `PROJECT#<project id>` |
//! | name guard   | tasks         | `PROJECTS#<owner>`     | `NAME#<name>`          |
//! | credential   | credentials   | `PROJECT#<project id>` | `CREDENTIAL`           |
//!
//! Deleting a project also deletes its preferences (`preferences.rs`).
//!
//! The credentials table is readable only by the function that hands a job its
//! credential (the callbacks function's role); the tasks function may write and delete
//! there, never read (see `infra/template.yaml`). Reading a project never reads it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cynode_domain::ids::{ProjectId, UserId};
use cynode_domain::ports::{ProjectStore, StoreResult};
use cynode_domain::preference::PreferenceTarget;
use cynode_domain::project::BuildSettings;
use cynode_domain::project::{CredentialChange, Project};

use super::preferences::preference_keys;
use super::{
    delete_items, delete_write, get_item, put_any, put_new, put_versioned, query_items, transact,
    Item, ItemBuilder, ItemReader,
};

#[derive(Debug, Clone)]
pub struct DynamoProjects {
    client: Client,
    table: String,
    credentials_table: String,
}

fn owner_pk(owner: &UserId) -> String {
    format!("PROJECTS#{owner}")
}
fn project_sk(id: &ProjectId) -> String {
    format!("PROJECT#{id}")
}
fn name_sk(name: &str) -> String {
    format!("NAME#{name}")
}
fn credential_pk(id: &ProjectId) -> String {
    format!("PROJECT#{id}")
}

const CREDENTIAL_SK: &str = "CREDENTIAL";

fn project_item(project: &Project) -> Item {
    ItemBuilder::key(owner_pk(&project.owner), project_sk(&project.id))
        .s("project_id", project.id.as_str())
        .s("owner", project.owner.as_str())
        .s("name", &project.name)
        .s("repo_url", &project.repo_url)
        .s("default_branch", &project.default_branch)
        .bool("has_credential", project.has_credential)
        .opt_s("credential_name", project.credential_name.clone())
        .bool("auto_start", project.auto_start)
        .opt_s("image", project.build.image.clone())
        .opt_s("test_command", project.build.test_command.clone())
        .opt_s("forge_url", project.build.forge_url.clone())
        .opt_s("forge_repo", project.build.forge_repo.clone())
        .opt_s("node_label", project.build.node_label.clone())
        .time("created_at", project.created_at)
        .time("updated_at", project.updated_at)
        .n("version", project.version)
        .build()
}

fn read_project(item: &Item) -> StoreResult<Project> {
    let r = ItemReader(item);
    Ok(Project {
        id: ProjectId::from_stored(r.s("project_id")?),
        owner: UserId::from_stored(r.s("owner")?),
        name: r.s("name")?,
        repo_url: r.s("repo_url")?,
        default_branch: r.s("default_branch")?,
        has_credential: r.bool("has_credential"),
        credential_name: r.opt_s("credential_name"),
        auto_start: r.bool("auto_start"),
        build: BuildSettings {
            image: r.opt_s("image"),
            test_command: r.opt_s("test_command"),
            forge_url: r.opt_s("forge_url"),
            forge_repo: r.opt_s("forge_repo"),
            node_label: r.opt_s("node_label"),
        },
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        version: r.n("version")?,
    })
}

impl DynamoProjects {
    pub fn new(client: Client, table: String, credentials_table: String) -> Self {
        Self {
            client,
            table,
            credentials_table,
        }
    }

    /// The write that applies a credential change, if any.
    fn credential_write(
        &self,
        project: &Project,
        change: &CredentialChange,
    ) -> StoreResult<Option<aws_sdk_dynamodb::types::TransactWriteItem>> {
        let pk = credential_pk(&project.id);
        let sk = CREDENTIAL_SK.to_owned();
        Ok(match change {
            CredentialChange::Keep => None,
            CredentialChange::Set(secret) => Some(put_any(
                &self.credentials_table,
                ItemBuilder::key(pk, sk).s("secret", secret).build(),
            )?),
            CredentialChange::Remove => Some(delete_write(&self.credentials_table, pk, sk)?),
        })
    }
}

#[async_trait]
impl ProjectStore for DynamoProjects {
    async fn insert_project(
        &self,
        project: &Project,
        credential: &CredentialChange,
    ) -> StoreResult<()> {
        let guard = ItemBuilder::key(owner_pk(&project.owner), name_sk(&project.name))
            .s("project_id", project.id.as_str())
            .build();
        let mut writes = vec![
            put_new(&self.table, project_item(project))?,
            put_new(&self.table, guard)?,
        ];
        writes.extend(self.credential_write(project, credential)?);
        transact(&self.client, writes).await
    }

    async fn project(&self, owner: &UserId, id: &ProjectId) -> StoreResult<Option<Project>> {
        get_item(&self.client, &self.table, owner_pk(owner), project_sk(id))
            .await?
            .as_ref()
            .map(read_project)
            .transpose()
    }

    async fn project_by_name(&self, owner: &UserId, name: &str) -> StoreResult<Option<Project>> {
        let Some(guard) =
            get_item(&self.client, &self.table, owner_pk(owner), name_sk(name)).await?
        else {
            return Ok(None);
        };
        let id = ProjectId::from_stored(ItemReader(&guard).s("project_id")?);
        self.project(owner, &id).await
    }

    async fn list_projects(&self, owner: &UserId) -> StoreResult<Vec<Project>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :owner AND begins_with(sk, :project)")
            .expression_attribute_values(":owner", AttributeValue::S(owner_pk(owner)))
            .expression_attribute_values(":project", AttributeValue::S("PROJECT#".into()))
            .consistent_read(true);
        query_items(query, None)
            .await?
            .iter()
            .map(read_project)
            .collect()
    }

    async fn update_project(
        &self,
        project: &Project,
        credential: &CredentialChange,
    ) -> StoreResult<()> {
        let mut writes = vec![put_versioned(
            &self.table,
            project_item(project),
            project.version,
        )?];
        writes.extend(self.credential_write(project, credential)?);
        transact(&self.client, writes).await
    }

    async fn delete_project(&self, project: &Project) -> StoreResult<()> {
        let pk = owner_pk(&project.owner);
        transact(
            &self.client,
            vec![
                delete_write(&self.table, pk.clone(), project_sk(&project.id))?,
                delete_write(&self.table, pk, name_sk(&project.name))?,
                delete_write(
                    &self.credentials_table,
                    credential_pk(&project.id),
                    CREDENTIAL_SK.to_owned(),
                )?,
            ],
        )
        .await?;
        // Its preferences after it: a project that is gone has none to apply.
        let target = PreferenceTarget::Project(project.id.clone());
        let keys = preference_keys(&self.client, &self.table, &target).await?;
        delete_items(&self.client, &self.table, keys).await
    }

    async fn credential(&self, project: &Project) -> StoreResult<Option<String>> {
        let item = get_item(
            &self.client,
            &self.credentials_table,
            credential_pk(&project.id),
            CREDENTIAL_SK.to_owned(),
        )
        .await?;
        item.map(|item| ItemReader(&item).s("secret")).transpose()
    }
}
