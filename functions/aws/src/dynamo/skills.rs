//! Skills, in the tasks table, one partition per owner (a job's claim reads the owner's
//! skills in one query):
//!
//! | item  | pk                 | sk             |
//! |-------|--------------------|----------------|
//! | skill | `SKILLS#<owner>`   | `SKILL#<name>` |

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use cynode_domain::ids::{ProjectId, UserId};
use cynode_domain::ports::{SkillStore, StoreResult};
use cynode_domain::skill::Skill;

use super::{delete_existing, get_item, partition_items, put_item, ItemBuilder, ItemReader};

#[derive(Debug, Clone)]
pub struct DynamoSkills {
    client: Client,
    table: String,
}

fn owner_pk(owner: &UserId) -> String {
    format!("SKILLS#{owner}")
}
fn skill_sk(name: &str) -> String {
    format!("SKILL#{name}")
}

fn read(item: &super::Item) -> StoreResult<Skill> {
    let r = ItemReader(item);
    Ok(Skill {
        owner: UserId::from_stored(r.s("owner")?),
        name: r.s("name")?,
        body: r.s("body")?,
        triggers: r.json("triggers")?,
        project: r.opt_s("project_id").map(ProjectId::from_stored),
        updated_at: r.time("updated_at")?,
    })
}

impl DynamoSkills {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

#[async_trait]
impl SkillStore for DynamoSkills {
    async fn put_skill(&self, skill: &Skill) -> StoreResult<()> {
        let item = ItemBuilder::key(owner_pk(&skill.owner), skill_sk(&skill.name))
            .s("owner", skill.owner.to_string())
            .s("name", &skill.name)
            .s("body", &skill.body)
            .json("triggers", &skill.triggers)?
            .opt_s(
                "project_id",
                skill.project.as_ref().map(ToString::to_string),
            )
            .time("updated_at", skill.updated_at)
            .build();
        put_item(&self.client, &self.table, item).await
    }

    async fn skill(&self, owner: &UserId, name: &str) -> StoreResult<Option<Skill>> {
        get_item(&self.client, &self.table, owner_pk(owner), skill_sk(name))
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    async fn skills(&self, owner: &UserId) -> StoreResult<Vec<Skill>> {
        partition_items(&self.client, &self.table, owner_pk(owner))
            .await?
            .iter()
            .map(read)
            .collect()
    }

    async fn delete_skill(&self, owner: &UserId, name: &str) -> StoreResult<bool> {
        delete_existing(&self.client, &self.table, owner_pk(owner), skill_sk(name)).await
    }
}
